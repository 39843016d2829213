/*
 * _dos.c: the CPython extension module under the Python package dos
 * (python/dos/), on the storage library of lib/dos.h.
 *
 * It is deliberately low level: a Store is one open container, a Writer
 * its pack writer, a Reader one object's bytes, a ReadIter many objects'
 * bytes.  The legacy-compatible API (dos.Container, its dataclasses,
 * exceptions and callbacks) is Python, in dos/__init__.py, on top of
 * these.
 *
 * Threads: the storage library is not thread-safe for one store, so
 * every call into it holds the Store's mutex, taken only after the GIL
 * is released (never the other way round, so that a thread waiting for
 * the mutex never holds the GIL another needs).  The mutex is recursive:
 * a progress callback running Python may call back into the Store.
 * Disk, index, hashing and compression work thus runs without the GIL.
 *
 * One file of about 2,000 lines, past the usual size on purpose: the
 * four types share the module's state (the exceptions, the process-wide
 * pack lock) and its helpers, and as one translation unit all of it stays
 * static, so that the extension exports nothing but PyInit__dos.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "dos.h"

/* Objects read_dict reads per library call. */
#define READ_DICT_CHUNK 4096
/* Bytes read from a Python stream at a time, and skipped per seek step. */
#define CHUNK (1 << 20)
/* A pack writer flushes at these, as dos pack does (lib/maint.c). */
#define FLUSH_OBJECTS DOS_INDEX_TXN_RECORDS
#define FLUSH_BYTES (64ULL << 20)

/* The exceptions of dos/exceptions.py, given by _dos.set_exceptions(). */
static PyObject *exc_not_existent, *exc_inconsistent, *exc_not_initialised,
    *exc_error;
/*
 * dos.ObjectMeta and the ObjectType members of its type field, given by
 * _dos.set_meta(), and the names of its fields, in order.
 */
static PyObject *meta_type, *meta_loose, *meta_packed;
static PyObject *meta_fields[6], *empty_tuple;

/*
 * Raise the Python exception for DOS_E* code rc.  errno is still that
 * of the failed call: Py_END_ALLOW_THREADS keeps it.
 */
static PyObject *
raise_dos(int rc)
{
	PyObject *cls = exc_error != NULL ? exc_error : PyExc_RuntimeError;

	switch (rc) {
	case DOS_ENOMEM:
		return PyErr_NoMemory();
	case DOS_EIO:
	case DOS_EREAD:
		return PyErr_SetFromErrno(PyExc_OSError);
	case DOS_ENOTFOUND:
		cls = exc_not_existent;
		break;
	case DOS_ECORRUPT:
		cls = exc_inconsistent;
		break;
	case DOS_ENOTCONTAINER:
	case DOS_EBADCONFIG:
		cls = exc_not_initialised;
		break;
	case DOS_EBADID:
	case DOS_EINVAL:
		cls = PyExc_ValueError;
		break;
	case DOS_EBUSY:
		cls = PyExc_BlockingIOError;
		break;
	}
	if (cls == NULL)
		cls = PyExc_RuntimeError;
	if (rc == DOS_EINDEX)
		PyErr_Format(cls, "dos: %s: %s", dos_strerror(rc),
		    dos_index_last_error());
	else if (rc == DOS_ELEGACY)
		PyErr_Format(cls, "dos: %s: migrate it with dos migrate",
		    dos_strerror(rc));
	else
		PyErr_Format(cls, "dos: %s", dos_strerror(rc));
	return NULL;
}

/* A full 64-digit id from a str; 0, or -1 with ValueError set. */
static int
parse_oid(PyObject *key, struct dos_oid *oid)
{
	const char *hex;
	Py_ssize_t len;

	if ((hex = PyUnicode_AsUTF8AndSize(key, &len)) == NULL)
		return -1;
	if (dos_oid_from_hex(oid, hex, (size_t)len) < 0 ||
	    !dos_is_lower_hex(hex, (size_t)len)) {
		PyErr_Format(PyExc_ValueError, "invalid hash key '%U'", key);
		return -1;
	}
	return 0;
}

static PyObject *
hex_of(const struct dos_oid *oid)
{
	char hex[DOS_HEXSZ + 1];

	return PyUnicode_FromStringAndSize(dos_oid_to_hex(oid, hex),
	    DOS_HEXSZ);
}

/*
 * packs/lock is a POSIX record lock, which belongs to the process: a
 * second writer in the same process would get it too, and closing any
 * descriptor of the file drops it.  So within the process one thread at
 * a time may hold it (a thread may nest), guarded here; every call that
 * opens packs/lock takes this first, without the GIL and before any
 * Store mutex.  A holder's writer may be closed by another thread.
 */
static pthread_mutex_t plock_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t plock_cv = PTHREAD_COND_INITIALIZER;
static pthread_t plock_owner;
static int plock_depth;

/* 0, or DOS_EBUSY with nowait when another thread holds it (or any does). */
static int
plock_take(int nowait)
{
	int rc = 0;

	pthread_mutex_lock(&plock_mu);
	if (nowait && plock_depth > 0)
		rc = DOS_EBUSY;
	while (rc == 0 && plock_depth > 0 &&
	    !pthread_equal(plock_owner, pthread_self()))
		pthread_cond_wait(&plock_cv, &plock_mu);
	if (rc == 0) {
		plock_owner = pthread_self();
		plock_depth++;
	}
	pthread_mutex_unlock(&plock_mu);
	return rc;
}

static void
plock_give(void)
{
	pthread_mutex_lock(&plock_mu);
	if (--plock_depth == 0)
		pthread_cond_broadcast(&plock_cv);
	pthread_mutex_unlock(&plock_mu);
}

/* BlockingIOError for packs/lock held by holder (0: this process). */
static PyObject *
lock_busy(long holder)
{
	if (holder > 0)
		return PyErr_Format(PyExc_BlockingIOError,
		    "dos: packs are locked by process %ld", holder);
	PyErr_SetString(PyExc_BlockingIOError,
	    "dos: packs are locked by this process");
	return NULL;
}

/* ---- Store ------------------------------------------------------------ */

typedef struct {
	PyObject_HEAD
	struct dos_store st;
	pthread_mutex_t lock;
	int open;
	int writers;		/* open Writers: closing waits for the last */
	int closing;
} StoreObject;

static PyTypeObject StoreType, WriterType, ReaderType;

#define ENTER(s) Py_BEGIN_ALLOW_THREADS pthread_mutex_lock(&(s)->lock);
#define LEAVE(s) pthread_mutex_unlock(&(s)->lock); Py_END_ALLOW_THREADS

/* The same, for a call that takes packs/lock, holding plock around it. */
#define ENTER_PLOCKED(s) Py_BEGIN_ALLOW_THREADS plock_take(0); \
	pthread_mutex_lock(&(s)->lock);
#define LEAVE_PLOCKED(s) pthread_mutex_unlock(&(s)->lock); plock_give(); \
	Py_END_ALLOW_THREADS

static int
check_open(StoreObject *s)
{
	if (s->open && !s->closing)
		return 0;
	PyErr_SetString(PyExc_ValueError, "the container is closed");
	return -1;
}

static int
Store_init(StoreObject *self, PyObject *args, PyObject *kw)
{
	static const struct dos_store init = DOS_STORE_INIT;
	pthread_mutexattr_t attr;
	PyObject *pathobj;
	int rc;

	if (!PyArg_ParseTuple(args, "O&", PyUnicode_FSConverter, &pathobj))
		return -1;
	if (self->open) {
		Py_DECREF(pathobj);
		PyErr_SetString(PyExc_ValueError, "Store already open");
		return -1;
	}
	self->st = init;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&self->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	Py_BEGIN_ALLOW_THREADS
	rc = dos_store_open(&self->st, PyBytes_AS_STRING(pathobj),
	    DOS_OPEN_WRITE);
	Py_END_ALLOW_THREADS
	Py_DECREF(pathobj);
	if (rc < 0) {
		raise_dos(rc);
		return -1;
	}
	self->open = 1;
	self->writers = self->closing = 0;
	return 0;
}

/* Under the mutex: release the store, unless a Writer still needs it. */
static void
store_release(StoreObject *self)
{
	if (self->writers > 0)
		return;
	dos_store_release(&self->st);
	self->open = 0;
}

static void
store_close(StoreObject *self)
{
	if (!self->open)
		return;
	ENTER(self)
	self->closing = 1;
	store_release(self);
	LEAVE(self)
}

static void
Store_dealloc(StoreObject *self)
{
	store_close(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Store_close(StoreObject *self, PyObject *unused)
{
	store_close(self);
	Py_RETURN_NONE;
}

/* The settings of config.json: id, loose_prefix_len, ... */
static PyObject *
Store_config(StoreObject *self, PyObject *unused)
{
	const struct dos_config *cfg;

	if (check_open(self) < 0)
		return NULL;
	cfg = dos_store_config(&self->st);
	return Py_BuildValue("{s:s,s:i,s:K,s:s,s:i}", "container_id", cfg->id,
	    "loose_prefix_len", cfg->loose_prefix_len, "pack_size_target",
	    (unsigned long long)cfg->pack_size_target, "codec",
	    dos_codec_name(cfg->codec), "level", cfg->level);
}

/*
 * Feed obj, a bytes-like object or a stream with read(), to fn chunk by
 * chunk: each write without the GIL and under the mutex.  -1 with a
 * Python exception, else 0 with *rc the code of the write that failed.
 */
typedef int write_fn(void *w, const void *buf, size_t len);

static int
feed(StoreObject *s, PyObject *obj, write_fn *fn, void *w, int *rc)
{
	PyObject *chunk;
	Py_buffer view;

	*rc = 0;
	if (PyObject_CheckBuffer(obj)) {
		if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
			return -1;
		ENTER(s)
		*rc = fn(w, view.buf, (size_t)view.len);
		LEAVE(s)
		PyBuffer_Release(&view);
		return 0;
	}
	for (;;) {
		chunk = PyObject_CallMethod(obj, "read", "n", (Py_ssize_t)CHUNK);
		if (chunk == NULL)
			return -1;
		if (PyObject_GetBuffer(chunk, &view, PyBUF_SIMPLE) < 0) {
			Py_DECREF(chunk);
			return -1;
		}
		if (view.len > 0) {
			ENTER(s)
			*rc = fn(w, view.buf, (size_t)view.len);
			LEAVE(s)
		}
		PyBuffer_Release(&view);
		Py_DECREF(chunk);
		if (view.len == 0 || *rc < 0)
			return 0;
	}
}

static int
loose_write(void *w, const void *buf, size_t len)
{
	return dos_loose_batch_write(w, buf, len);
}

/*
 * add_loose(content_or_stream, keep_packed=False) -> hex: store one loose
 * object, durable when this returns; one already packed is written loose
 * only with keep_packed.
 */
static PyObject *
Store_add_loose(StoreObject *self, PyObject *args)
{
	struct dos_loose_batch *b = NULL;
	struct dos_oid oid;
	PyObject *obj;
	int rc, keep_packed = 0;

	if (!PyArg_ParseTuple(args, "O|p", &obj, &keep_packed))
		return NULL;
	if (check_open(self) < 0)
		return NULL;
	ENTER(self)
	if ((rc = dos_loose_batch_new(&self->st, &b)) == 0 && keep_packed)
		dos_loose_batch_keep_packed(b);
	if (rc == 0 && (rc = dos_loose_batch_begin(b)) < 0) {
		dos_loose_batch_free(b);
		b = NULL;
	}
	LEAVE(self)
	if (rc < 0)
		return raise_dos(rc);
	if (feed(self, obj, loose_write, b, &rc) < 0) {
		ENTER(self)
		dos_loose_batch_free(b);
		LEAVE(self)
		return NULL;
	}
	ENTER(self)
	if (rc == 0 && (rc = dos_loose_batch_end(b, &oid)) == 0)
		rc = dos_loose_batch_commit(b);
	dos_loose_batch_free(b);
	LEAVE(self)
	if (rc < 0)
		return raise_dos(rc);
	return hex_of(&oid);
}

/*
 * The dos.ObjectMeta of an object, made as dataclasses make one (its
 * fields set with object.__setattr__), without running its __init__:
 * reading many objects makes one each.  Offset and length are those of
 * the stored bytes, past the entry header.
 */
static PyObject *
meta_of(const struct dos_object_info *in)
{
	PyObject *m, *v[6];
	int i, rc = 0, packed = in->storage == DOS_STORAGE_PACKED;

	if (meta_type == NULL) {
		PyErr_SetString(PyExc_RuntimeError, "_dos.set_meta not called");
		return NULL;
	}
	if ((m = PyBaseObject_Type.tp_new((PyTypeObject *)meta_type,
	    empty_tuple, NULL)) == NULL)
		return NULL;
	v[0] = packed ? meta_packed : meta_loose;
	Py_INCREF(v[0]);
	v[1] = PyLong_FromUnsignedLongLong(in->size);
	if (packed) {
		v[2] = PyLong_FromUnsignedLong(in->pack);
		v[3] = PyBool_FromLong(in->codec != DOS_CODEC_NONE);
		v[4] = PyLong_FromUnsignedLongLong(in->offset +
		    in->disk_size - in->stored_size);
		v[5] = PyLong_FromUnsignedLongLong(in->stored_size);
	} else {
		for (i = 2; i < 6; i++) {
			Py_INCREF(Py_None);
			v[i] = Py_None;
		}
	}
	for (i = 0; i < 6; i++)
		if (rc == 0 && (v[i] == NULL ||
		    PyObject_GenericSetAttr(m, meta_fields[i], v[i]) < 0))
			rc = -1;
	for (i = 0; i < 6; i++)
		Py_XDECREF(v[i]);
	if (rc < 0)
		Py_CLEAR(m);
	return m;
}

/*
 * Look the ids of the sequence keys up: a list of None (missing, or not
 * a valid id) or ObjectMeta.
 */
static PyObject *
Store_info_many(StoreObject *self, PyObject *keys)
{
	struct dos_object_info *infos = NULL;
	PyObject *seq, *out = NULL;
	unsigned char *valid = NULL;
	int *rcs = NULL, rc = 0;
	Py_ssize_t n, i;
	size_t nr = 0;

	if (check_open(self) < 0)
		return NULL;
	if ((seq = PySequence_Fast(keys, "hashkeys must be iterable")) == NULL)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	infos = PyMem_Calloc(n ? n : 1, sizeof *infos);
	rcs = PyMem_Calloc(n ? n : 1, sizeof *rcs);
	valid = PyMem_Calloc(n ? n : 1, 1);
	if (infos == NULL || rcs == NULL || valid == NULL) {
		PyErr_NoMemory();
		goto out;
	}
	/* Invalid keys are missing objects, as legacy has them. */
	for (i = 0; i < n; i++) {
		if (parse_oid(PySequence_Fast_GET_ITEM(seq, i),
		    &infos[nr].oid) == 0) {
			valid[i] = 1;
			nr++;
		} else if (PyErr_ExceptionMatches(PyExc_ValueError)) {
			PyErr_Clear();
		} else {
			goto out;
		}
	}
	ENTER(self)
	if (nr > 0)
		rc = dos_object_info_many(&self->st, infos, rcs, nr);
	LEAVE(self)
	if (rc < 0) {
		raise_dos(rc);
		goto out;
	}
	if ((out = PyList_New(n)) == NULL)
		goto out;
	nr = 0;
	for (i = 0; i < n; i++) {
		struct dos_object_info *in = &infos[nr];
		PyObject *item;

		if (!valid[i] || rcs[nr] == DOS_ENOTFOUND) {
			nr += valid[i];
			Py_INCREF(Py_None);
			PyList_SET_ITEM(out, i, Py_None);
			continue;
		}
		if (rcs[nr] < 0) {
			raise_dos(rcs[nr]);
			Py_CLEAR(out);
			goto out;
		}
		nr++;
		if ((item = meta_of(in)) == NULL) {
			Py_CLEAR(out);
			goto out;
		}
		PyList_SET_ITEM(out, i, item);
	}
out:
	PyMem_Free(infos);
	PyMem_Free(rcs);
	PyMem_Free(valid);
	Py_DECREF(seq);
	return out;
}

/* The ids of one walk, collected for a sorted, duplicate-free chunk. */
struct collect {
	struct dos_oid_list l;
	int rc;
};

static int
collect_loose(const struct dos_oid *oid, int dirfd, const char *name,
    void *data)
{
	struct collect *c = data;

	return dos_oid_list_push(&c->l, oid);
}

static int
collect_indexed(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	struct collect *c = data;

	return dos_oid_list_push(&c->l, oid);
}

static int
cmp_oid(const void *a, const void *b)
{
	return dos_oid_cmp(a, b);
}

/*
 * list_prefix(prefix) -> sorted list of the hex ids, loose or packed,
 * that start with prefix: list_all_objects walks the 256 two-digit
 * prefixes, so that it never holds more than a 256th of the ids.
 */
static PyObject *
Store_list_prefix(StoreObject *self, PyObject *arg)
{
	struct collect c = { { NULL, 0, 0 }, 0 };
	struct dos_index *ix;
	const char *prefix;
	Py_ssize_t plen;
	PyObject *out;
	size_t i, n;
	int rc;

	if (check_open(self) < 0)
		return NULL;
	if ((prefix = PyUnicode_AsUTF8AndSize(arg, &plen)) == NULL)
		return NULL;
	if (!dos_is_lower_hex(prefix, (size_t)plen) || plen > DOS_HEXSZ) {
		PyErr_SetString(PyExc_ValueError, "invalid prefix");
		return NULL;
	}
	ENTER(self)
	rc = dos_loose_for_each(&self->st, prefix, (size_t)plen,
	    collect_loose, &c);
	if (rc == 0 && (rc = dos_store_index(&self->st, 0, &ix)) == 0)
		rc = dos_index_walk(ix, prefix, (size_t)plen, collect_indexed,
		    &c);
	if (rc == 0)
		qsort(c.l.oids, c.l.nr, sizeof *c.l.oids, cmp_oid);
	LEAVE(self)
	if (rc < 0) {
		free(c.l.oids);
		return raise_dos(rc);
	}
	out = PyList_New(0);
	for (i = n = 0; out != NULL && i < c.l.nr; i++) {
		PyObject *hex;

		if (n > 0 && dos_oid_cmp(&c.l.oids[i], &c.l.oids[i - 1]) == 0)
			continue;
		if ((hex = hex_of(&c.l.oids[i])) == NULL ||
		    PyList_Append(out, hex) < 0)
			Py_CLEAR(out);
		Py_XDECREF(hex);
		n++;
	}
	free(c.l.oids);
	return out;
}

static int
count_loose(const struct dos_oid *oid, int dirfd, const char *name,
    void *data)
{
	(*(uint64_t *)data)++;
	return 0;
}

/* Index records per pack, for count(): the packs are few. */
struct pack_counts {
	uint64_t total;
	struct pack_count {
		uint32_t pack;
		uint64_t n;
	} *v;
	size_t nr, alloc;
};

static int
count_indexed(const struct dos_oid *oid, const struct dos_index_entry *e,
    void *data)
{
	struct pack_counts *c = data;
	struct pack_count *v;
	size_t i;

	c->total++;
	for (i = 0; i < c->nr; i++)
		if (c->v[i].pack == e->pack) {
			c->v[i].n++;
			return 0;
		}
	if ((v = dos_grow(c->v, c->nr, &c->alloc, sizeof *v, 8)) == NULL)
		return DOS_ENOMEM;
	c->v = v;
	c->v[c->nr].pack = e->pack;
	c->v[c->nr++].n = 1;
	return 0;
}

/*
 * count() -> (packed, loose, packs, {pack: packed objects}): index
 * records, loose files (packed too or not) and pack files, without
 * reading any pack.
 */
static PyObject *
Store_count(StoreObject *self, PyObject *unused)
{
	struct pack_counts pc = { 0, NULL, 0, 0 };
	struct dos_index *ix;
	uint32_t *packs = NULL;
	uint64_t loose = 0;
	PyObject *per_pack, *out = NULL;
	size_t npacks = 0, i;
	int rc;

	if (check_open(self) < 0)
		return NULL;
	ENTER(self)
	if ((rc = dos_loose_for_each(&self->st, "", 0, count_loose,
	    &loose)) == 0 &&
	    (rc = dos_store_index(&self->st, 0, &ix)) == 0 &&
	    (rc = dos_index_walk(ix, "", 0, count_indexed, &pc)) == 0)
		rc = dos_pack_list(&self->st, &packs, &npacks);
	free(packs);
	LEAVE(self)
	if (rc < 0) {
		free(pc.v);
		return raise_dos(rc);
	}
	if ((per_pack = PyDict_New()) == NULL)
		goto out;
	for (i = 0; i < pc.nr; i++) {
		PyObject *k = PyLong_FromUnsignedLong(pc.v[i].pack);
		PyObject *v = PyLong_FromUnsignedLongLong(pc.v[i].n);
		int bad = k == NULL || v == NULL ||
		    PyDict_SetItem(per_pack, k, v) < 0;

		Py_XDECREF(k);
		Py_XDECREF(v);
		if (bad) {
			Py_DECREF(per_pack);
			goto out;
		}
	}
	out = Py_BuildValue("(KKnN)", (unsigned long long)pc.total,
	    (unsigned long long)loose, (Py_ssize_t)npacks, per_pack);
out:
	free(pc.v);
	return out;
}

/* sizes() -> dict of the dos_counts of dos count-objects. */
static PyObject *
Store_sizes(StoreObject *self, PyObject *unused)
{
	struct dos_count_field f[DOS_COUNT_FIELDS];
	struct dos_counts c;
	PyObject *out;
	int rc, i;

	if (check_open(self) < 0)
		return NULL;
	ENTER(self)
	rc = dos_count_objects(&self->st, &c);
	LEAVE(self)
	if (rc < 0)
		return raise_dos(rc);
	dos_count_fields(&c, f);
	if ((out = Py_BuildValue("{sK}", "size_packed_stored",
	    (unsigned long long)c.size_packed_stored)) == NULL)
		return NULL;
	for (i = 0; i < DOS_COUNT_FIELDS; i++) {
		PyObject *v = PyLong_FromUnsignedLongLong(f[i].value);

		if (v == NULL || PyDict_SetItemString(out, f[i].json_key,
		    v) < 0) {
			Py_XDECREF(v);
			Py_DECREF(out);
			return NULL;
		}
		Py_DECREF(v);
	}
	return out;
}

/*
 * A Python callable called from inside the library, whose thread does
 * not hold the GIL then: it takes it for the call (whatever the thread).
 * The first exception the callable raises is kept, and raised once the
 * library returns.
 */
struct pycall {
	PyObject *fn;
	PyObject *exc_type, *exc_value, *exc_tb;
};

static void
pycall_begin(struct pycall *pc, PyObject *fn)
{
	memset(pc, 0, sizeof *pc);
	pc->fn = fn == Py_None ? NULL : fn;
}

/* Call pc->fn(*args built from fmt) with the GIL. */
static void
pycall(struct pycall *pc, const char *fmt, ...)
{
	PyGILState_STATE gil;
	PyObject *args, *res;
	va_list ap;

	if (pc->fn == NULL)
		return;
	gil = PyGILState_Ensure();
	va_start(ap, fmt);
	args = Py_VaBuildValue(fmt, ap);
	va_end(ap);
	res = args != NULL ? PyObject_CallObject(pc->fn, args) : NULL;
	Py_XDECREF(args);
	Py_XDECREF(res);
	if (res == NULL) {
		if (pc->exc_type == NULL)
			PyErr_Fetch(&pc->exc_type, &pc->exc_value,
			    &pc->exc_tb);
		else
			PyErr_Clear();
	}
	PyGILState_Release(gil);
}

/*
 * The pair of callables of one call (a problem or report one, and a
 * progress one): -1 with the first exception either raised, if any.
 */
static int
pycalls_end(struct pycall pc[2])
{
	int i;

	for (i = 0; i < 2; i++)
		if (pc[i].exc_type != NULL)
			break;
	if (i == 2)
		return 0;
	PyErr_Restore(pc[i].exc_type, pc[i].exc_value, pc[i].exc_tb);
	if (i == 0 && pc[1].exc_type != NULL) {
		Py_DECREF(pc[1].exc_type);
		Py_XDECREF(pc[1].exc_value);
		Py_XDECREF(pc[1].exc_tb);
	}
	return -1;
}

static void
writer_close(StoreObject *s, struct dos_pack_writer *w)
{
	ENTER(s)
	dos_pack_writer_close(w);
	s->writers--;
	if (s->closing)
		store_release(s);
	LEAVE(s)
	plock_give();
}

static void
maint_problem(void *data, const struct dos_oid *oid, int code,
    const char *what)
{
	char hex[DOS_HEXSZ + 1] = "";

	if (oid != NULL)
		dos_oid_to_hex(oid, hex);
	pycall(data, "(ssi)", hex, what, code);
}

static void
maint_progress(void *data, uint64_t done)
{
	pycall((struct pycall *)data + 1, "(K)", (unsigned long long)done);
}

/*
 * Open a pack writer in mode, waiting for packs/lock unless nowait,
 * holding plock until writer_close().
 */
static int
writer_open(StoreObject *s, int mode, int nowait,
    struct dos_pack_writer **w)
{
	long holder = 0;
	int rc;

	Py_BEGIN_ALLOW_THREADS
	if ((rc = plock_take(nowait)) == 0) {
		pthread_mutex_lock(&s->lock);
		rc = dos_pack_writer_open(&s->st, nowait ? DOS_PACK_NOWAIT :
		    0, (enum dos_compress_mode)mode, w, &holder);
		if (rc == 0)
			s->writers++;
		pthread_mutex_unlock(&s->lock);
		if (rc < 0)
			plock_give();
	}
	Py_END_ALLOW_THREADS
	if (rc == DOS_EBUSY) {
		lock_busy(holder);
		return -1;
	}
	if (rc < 0) {
		raise_dos(rc);
		return -1;
	}
	return 0;
}

/*
 * maintain(what, mode, problem, progress) for what "pack" (pack_loose,
 * keeping the loose files), "pack-clean" (removing them), "repack" (all
 * packs with dead bytes, or every pack unless mode is KEEP): problem is
 * called as problem(hexid, what, code), progress as progress(done).
 * Returns (objects, raw, stored) the writer committed.
 */
static PyObject *
Store_maintain(StoreObject *self, PyObject *args)
{
	struct pycall pc[2];
	struct dos_maint m = { maint_problem, maint_progress, pc };
	struct dos_repack_stats stats;
	struct dos_pack_writer *w;
	PyObject *problem, *progress;
	uint64_t objects, raw, stored;
	const char *what;
	int mode, rc;

	if (!PyArg_ParseTuple(args, "siOO", &what, &mode, &problem, &progress))
		return NULL;
	if (check_open(self) < 0 || writer_open(self, mode, 0, &w) < 0)
		return NULL;
	pycall_begin(&pc[0], problem);
	pycall_begin(&pc[1], progress);
	ENTER(self)
	if (strcmp(what, "repack") == 0)
		rc = dos_repack(&self->st, w, (enum dos_compress_mode)mode, 0,
		    &m, &stats);
	else
		rc = dos_pack_loose(&self->st, w, strcmp(what, "pack") == 0,
		    &m);
	dos_pack_writer_totals(w, &objects, &raw, &stored);
	LEAVE(self)
	writer_close(self, w);
	if (pycalls_end(pc) < 0)
		return NULL;
	if (rc < 0)
		return raise_dos(rc);
	return Py_BuildValue("(KKK)", (unsigned long long)objects,
	    (unsigned long long)raw, (unsigned long long)stored);
}

/*
 * remove(hashkeys) -> list of the hex ids that were stored (and now are
 * not): packed ones get a tombstone, loose files are unlinked once the
 * tombstones are durable, as dos rm does.
 */
static PyObject *
Store_remove(StoreObject *self, PyObject *keys)
{
	struct dos_oid_list ids = { NULL, 0, 0 }, loose = { NULL, 0, 0 };
	struct dos_pack_writer *w;
	PyObject *seq, *out = NULL;
	unsigned char *gone = NULL;
	Py_ssize_t n, i;
	size_t j;
	int rc = 0, is_loose, packed;

	if (check_open(self) < 0)
		return NULL;
	if ((seq = PySequence_Fast(keys, "hashkeys must be iterable")) == NULL)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	for (i = 0; i < n; i++) {
		struct dos_oid oid;

		if (parse_oid(PySequence_Fast_GET_ITEM(seq, i), &oid) < 0) {
			if (!PyErr_ExceptionMatches(PyExc_ValueError))
				goto out;
			PyErr_Clear();
			continue;
		}
		if (dos_oid_list_push(&ids, &oid) < 0) {
			PyErr_NoMemory();
			goto out;
		}
	}
	if ((gone = PyMem_Calloc(ids.nr ? ids.nr : 1, 1)) == NULL) {
		PyErr_NoMemory();
		goto out;
	}
	if (writer_open(self, DOS_COMPRESS_NEVER, 0, &w) < 0)
		goto out;
	ENTER(self)
	for (j = 0; rc == 0 && j < ids.nr; j++) {
		rc = dos_remove(&self->st, w, &ids.oids[j], &is_loose, &packed);
		if (rc == 0 && is_loose)
			rc = dos_oid_list_push(&loose, &ids.oids[j]);
		gone[j] = is_loose || packed;
		if (rc == 0 && dos_pack_writer_pending(w) >= FLUSH_OBJECTS)
			rc = dos_pack_writer_flush(w);
	}
	if (rc == 0)
		rc = dos_pack_writer_flush(w);
	for (j = 0; rc == 0 && j < loose.nr; j++)
		rc = dos_loose_unlink("python-rm-unlink", &self->st,
		    &loose.oids[j]);
	if (rc == 0 && loose.nr > 0)
		rc = dos_loose_sync_unlinks("python-rm-sync", &self->st);
	LEAVE(self)
	writer_close(self, w);
	if (rc < 0) {
		raise_dos(rc);
		goto out;
	}
	if ((out = PyList_New(0)) == NULL)
		goto out;
	for (j = 0; j < ids.nr; j++) {
		PyObject *hex;

		if (!gone[j])
			continue;
		if ((hex = hex_of(&ids.oids[j])) == NULL ||
		    PyList_Append(out, hex) < 0) {
			Py_XDECREF(hex);
			Py_CLEAR(out);
			break;
		}
		Py_DECREF(hex);
	}
out:
	free(ids.oids);
	free(loose.oids);
	PyMem_Free(gone);
	Py_DECREF(seq);
	return out;
}

/* The loose files whose object is also in the index, to unlink. */
struct prune {
	struct dos_store *st;
	struct dos_index *ix;
	uint64_t removed;
};

static int
prune_one(const struct dos_oid *oid, int dirfd, const char *name,
    void *data)
{
	struct prune *p = data;
	struct dos_index_entry e;
	int rc;

	rc = dos_index_get_committed(p->ix, oid, &e);
	if (rc == DOS_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	if ((rc = dos_loose_unlink("python-prune-unlink", p->st, oid)) < 0)
		return rc;
	p->removed++;
	return 0;
}

/*
 * clean() -> (loose files removed, temp files removed): what the legacy
 * clean_storage does to a dos container.  Under packs/lock, so that no
 * packer indexes a loose file meanwhile: remove the loose copies of the
 * objects already packed (durably), then the stale temp files of
 * sandbox/.
 */
static PyObject *
Store_clean(StoreObject *self, PyObject *unused)
{
	struct prune p = { &self->st, NULL, 0 };
	uint64_t temps = 0;
	int rc, lockfd = -1;
	long holder;

	if (check_open(self) < 0)
		return NULL;
	ENTER_PLOCKED(self)
	rc = dos_pack_lock(&self->st, 0, &lockfd, &holder);
	if (rc == 0)
		rc = dos_store_index(&self->st, 1, &p.ix);
	if (rc == 0)
		rc = dos_loose_for_each(&self->st, "", 0, prune_one, &p);
	if (rc == 0 && p.removed > 0)
		rc = dos_loose_sync_unlinks("python-prune-sync", &self->st);
	if (rc == 0 && p.removed > 0)
		rc = dos_loose_remove_empty_shards(&self->st);
	if (rc == 0)
		rc = dos_clean_sandbox(&self->st, &temps);
	if (lockfd >= 0)
		close(lockfd);
	LEAVE_PLOCKED(self)
	if (rc < 0)
		return raise_dos(rc);
	return Py_BuildValue("(KK)", (unsigned long long)p.removed,
	    (unsigned long long)temps);
}

static void
fsck_report(const struct dos_fsck_finding *f, void *data)
{
	pycall(data, "(sIss)", f->kind, f->cls, f->subject, f->detail);
}

static void
fsck_progress(const char *phase, uint64_t done, uint64_t total, void *data)
{
	pycall((struct pycall *)data + 1, "(sKK)", phase,
	    (unsigned long long)done, (unsigned long long)total);
}

/*
 * fsck(report, progress, jobs) -> OR of the problem classes: the checks
 * of dos fsck, report(kind, cls, subject, detail) called for each
 * finding and progress(phase, done, total) as it goes.
 */
static PyObject *
Store_fsck(StoreObject *self, PyObject *args)
{
	struct pycall pc[2];
	struct dos_fsck_options o;
	struct dos_fsck_stats stats;
	PyObject *report, *progress;
	int jobs, rc;

	if (!PyArg_ParseTuple(args, "OOi", &report, &progress, &jobs))
		return NULL;
	if (check_open(self) < 0)
		return NULL;
	memset(&o, 0, sizeof o);
	o.jobs = jobs > 0 ? jobs : 1;
	o.report = fsck_report;
	o.progress = progress != Py_None ? fsck_progress : NULL;
	o.data = pc;
	pycall_begin(&pc[0], report);
	pycall_begin(&pc[1], progress);
	/* fsck opens packs/lock to see whether a writer is at work. */
	ENTER_PLOCKED(self)
	rc = dos_fsck(&self->st, &o, &stats);
	LEAVE_PLOCKED(self)
	if (pycalls_end(pc) < 0)
		return NULL;
	if (rc < 0)
		return raise_dos(rc);
	return PyLong_FromLong(rc);
}

/* lock(nowait) -> fd: hold packs/lock until unlock(fd). */
static PyObject *
Store_lock(StoreObject *self, PyObject *arg)
{
	int nowait = PyObject_IsTrue(arg), rc, fd = -1;
	long holder = 0;

	if (nowait < 0 || check_open(self) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	if ((rc = plock_take(nowait)) == 0) {
		pthread_mutex_lock(&self->lock);
		rc = dos_pack_lock(&self->st, nowait, &fd, &holder);
		pthread_mutex_unlock(&self->lock);
		if (rc < 0)
			plock_give();
	}
	if (rc < 0 && fd >= 0)
		close(fd);
	Py_END_ALLOW_THREADS
	if (rc == DOS_EBUSY)
		return lock_busy(holder);
	if (rc < 0)
		return raise_dos(rc);
	return PyLong_FromLong(fd);
}

/* unlock(fd): let go of what lock() took. */
static PyObject *
Store_unlock(StoreObject *self, PyObject *arg)
{
	int fd = (int)PyLong_AsLong(arg);

	if (fd == -1 && PyErr_Occurred())
		return NULL;
	close(fd);
	plock_give();
	Py_RETURN_NONE;
}

static PyObject *Writer_new_for(StoreObject *s, int mode);
static PyObject *Reader_new_for(StoreObject *s, PyObject *key);

/* ---- ReadIter: many objects read in storage order ---------------------- */

/* One asked key, where it comes out: found ones by place, then missing. */
struct read_item {
	Py_ssize_t key;		/* its index in the asked keys */
	Py_ssize_t info;	/* its index in infos, or -1: missing */
	/* Packed ones (0 << 32 | pack) first, then loose (1), missing (2). */
	uint64_t group;
	uint64_t offset;
};

typedef struct {
	PyObject_HEAD
	StoreObject *store;
	PyObject *keys;			/* the asked keys, a list */
	struct dos_object_info *infos;	/* of the keys found */
	struct read_item *items;	/* in the order they come out */
	Py_ssize_t n, next, chunk;
	unsigned long long max_size;
	int strict;
} ReadIterObject;

static PyTypeObject ReadIterType;

static int
cmp_item(const void *a, const void *b)
{
	const struct read_item *x = a, *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

/*
 * read_iter(hashkeys, max_size, chunk) -> ReadIter: the keys of the list
 * hashkeys (distinct), looked up at once (one bulk index lookup), come
 * out chunk at a time as lists of (key, bytes, ObjectMeta): packed
 * objects first, each pack's front to back, then loose ones, then the
 * missing ones (or invalid keys, as legacy has them) with bytes and meta
 * None.  Each object of at most max_size bytes is read whole, without the
 * GIL, where the lookup placed it (no second lookup), straight into its
 * bytes object; a larger one, or (unless strict) a damaged one, comes
 * with bytes None, for a Reader to stream (and fail).  Strict (read_dict),
 * a damaged object raises InconsistentContent.  An object gone since the
 * lookup comes as missing.  Memory: the infos of the keys, and one
 * chunk's bytes.
 */
static ReadIterObject *
read_iter_new(StoreObject *self, PyObject *keys, unsigned long long max_size,
    Py_ssize_t chunk, int strict)
{
	ReadIterObject *it;
	Py_ssize_t n, i, nr = 0;
	int *rcs = NULL, rc = 0;

	if (check_open(self) < 0)
		return NULL;
	if ((it = PyObject_New(ReadIterObject, &ReadIterType)) == NULL)
		return NULL;
	it->infos = NULL;
	it->items = NULL;
	Py_INCREF(self);
	it->store = self;
	Py_INCREF(keys);
	it->keys = keys;
	it->n = n = PyList_GET_SIZE(keys);
	it->next = 0;
	it->chunk = chunk > 0 ? chunk : 1;
	it->strict = strict;
	it->max_size = max_size;
	it->infos = PyMem_Calloc(n ? n : 1, sizeof *it->infos);
	it->items = PyMem_Calloc(n ? n : 1, sizeof *it->items);
	rcs = PyMem_Calloc(n ? n : 1, sizeof *rcs);
	if (it->infos == NULL || it->items == NULL || rcs == NULL) {
		PyErr_NoMemory();
		goto fail;
	}
	for (i = 0; i < n; i++) {
		it->items[i].key = i;
		it->items[i].info = -1;
		it->items[i].group = (uint64_t)2 << 32;
		if (parse_oid(PyList_GET_ITEM(keys, i), &it->infos[nr].oid) == 0) {
			it->items[i].info = nr++;
			continue;
		}
		if (!PyErr_ExceptionMatches(PyExc_ValueError))
			goto fail;
		PyErr_Clear();
	}
	ENTER(self)
	if (nr > 0)
		rc = dos_object_info_many(&self->st, it->infos, rcs, (size_t)nr);
	LEAVE(self)
	if (rc < 0) {
		raise_dos(rc);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		struct read_item *item = &it->items[i];
		const struct dos_object_info *in;

		if (item->info < 0)
			continue;
		if (rcs[item->info] == DOS_ENOTFOUND) {
			item->info = -1;
			continue;
		}
		if (rcs[item->info] < 0) {
			raise_dos(rcs[item->info]);
			goto fail;
		}
		in = &it->infos[item->info];
		item->group = in->storage == DOS_STORAGE_PACKED ? in->pack :
		    (uint64_t)1 << 32;
		item->offset = in->offset;
	}
	qsort(it->items, (size_t)n, sizeof *it->items, cmp_item);
	PyMem_Free(rcs);
	return it;
fail:
	PyMem_Free(rcs);
	Py_DECREF(it);
	return NULL;
}

static PyObject *
Store_read_iter(StoreObject *self, PyObject *args)
{
	unsigned long long max_size;
	Py_ssize_t chunk;
	PyObject *keys;

	if (!PyArg_ParseTuple(args, "O!Kn", &PyList_Type, &keys, &max_size,
	    &chunk))
		return NULL;
	return (PyObject *)read_iter_new(self, keys, max_size, chunk, 0);
}

/*
 * Under the mutex, without the GIL: the object as listed in info, all of
 * its size bytes into buf; it must have no more (the reader checks the
 * object at its end).
 */
static int
read_listed(struct dos_store *st, const struct dos_object_info *info,
    char *buf)
{
	struct dos_reader r;
	uint64_t done;
	ssize_t got = 0;
	char end;
	int rc;

	if ((rc = dos_reader_open_listed(st, info, 0, &r)) < 0)
		return rc;
	for (done = 0; done < info->size; done += (uint64_t)got)
		if ((got = dos_reader_read(&r, buf + done,
		    (size_t)(info->size - done))) <= 0)
			break;
	if (got >= 0 && done == info->size)
		got = dos_reader_read(&r, &end, 1);
	dos_reader_close(&r);
	if (got < 0)
		return (int)got;
	return done == info->size && got == 0 ? 0 : DOS_ECORRUPT;
}

/*
 * Read the next chunk of n items: bufs[i] the bytes of item i (or NULL:
 * missing, or too large), read if rcs[i] is 0; 0, or -1 with an
 * exception (one that reading raised: a damaged object when strict).
 * Item i is found if its info is not -1 and rcs[i] is not ENOTFOUND.
 */
static int
read_chunk(ReadIterObject *self, Py_ssize_t n, PyObject **bufs, int *rcs)
{
	const struct read_item *items = self->items + self->next;
	const struct dos_object_info *in;
	Py_ssize_t i;

	/* Made here, filled without the GIL: no other thread sees them. */
	for (i = 0; i < n; i++) {
		if (items[i].info < 0)
			continue;
		in = &self->infos[items[i].info];
		if (in->size > self->max_size ||
		    in->size > (uint64_t)PY_SSIZE_T_MAX)
			continue;
		if ((bufs[i] = PyBytes_FromStringAndSize(NULL,
		    (Py_ssize_t)in->size)) == NULL)
			return -1;
	}
	ENTER(self->store)
	for (i = 0; i < n; i++)
		if (bufs[i] != NULL)
			rcs[i] = read_listed(&self->store->st,
			    &self->infos[items[i].info],
			    PyBytes_AS_STRING(bufs[i]));
	LEAVE(self->store)
	for (i = 0; i < n; i++)
		if ((rcs[i] < 0 && rcs[i] != DOS_ECORRUPT &&
		    rcs[i] != DOS_ENOTFOUND) ||
		    (rcs[i] == DOS_ECORRUPT && self->strict)) {
			raise_dos(rcs[i]);
			return -1;
		}
	return 0;
}

/*
 * The next chunk, read, handed to fn with its bufs and rcs (see
 * read_chunk); what fn returns, or NULL at the end (no exception set).
 */
static PyObject *
next_chunk(ReadIterObject *self, PyObject *(*fn)(ReadIterObject *,
    Py_ssize_t, PyObject **, const int *, void *), void *data)
{
	PyObject **bufs, *out = NULL;
	Py_ssize_t n, i;
	int *rcs;

	if (self->next >= self->n)
		return NULL;
	if (check_open(self->store) < 0)
		return NULL;
	n = self->n - self->next < self->chunk ? self->n - self->next :
	    self->chunk;
	bufs = PyMem_Calloc((size_t)n, sizeof *bufs);
	rcs = PyMem_Calloc((size_t)n, sizeof *rcs);
	if (bufs == NULL || rcs == NULL)
		PyErr_NoMemory();
	else if (read_chunk(self, n, bufs, rcs) == 0 &&
	    (out = fn(self, n, bufs, rcs, data)) != NULL)
		self->next += n;
	if (bufs != NULL)
		for (i = 0; i < n; i++)
			Py_XDECREF(bufs[i]);
	PyMem_Free(bufs);
	PyMem_Free(rcs);
	return out;
}

/* A chunk as a list of (key, bytes or None, ObjectMeta or None). */
static PyObject *
chunk_list(ReadIterObject *self, Py_ssize_t n, PyObject **bufs,
    const int *rcs, void *unused)
{
	const struct read_item *items = self->items + self->next;
	PyObject *out, *data, *meta, *t;
	Py_ssize_t i;

	if ((out = PyList_New(n)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		data = bufs[i] != NULL && rcs[i] == 0 ? bufs[i] : Py_None;
		meta = Py_None;
		if (items[i].info >= 0 && rcs[i] != DOS_ENOTFOUND &&
		    (meta = meta_of(&self->infos[items[i].info])) == NULL)
			goto fail;
		t = PyTuple_Pack(3, PyList_GET_ITEM(self->keys, items[i].key),
		    data, meta);
		if (meta != Py_None)
			Py_DECREF(meta);
		if (t == NULL)
			goto fail;
		PyList_SET_ITEM(out, i, t);
	}
	return out;
fail:
	Py_DECREF(out);
	return NULL;
}

static PyObject *
ReadIter_next(ReadIterObject *self)
{
	return next_chunk(self, chunk_list, NULL);
}

/*
 * A chunk into the dict data, {key: bytes}, and {key: None} for the
 * missing ones if not skip_missing.
 */
struct chunk_dict {
	PyObject *dict;
	int skip_missing;
};

static PyObject *
chunk_dict(ReadIterObject *self, Py_ssize_t n, PyObject **bufs,
    const int *rcs, void *data)
{
	const struct read_item *items = self->items + self->next;
	struct chunk_dict *d = data;
	PyObject *value;
	Py_ssize_t i;

	for (i = 0; i < n; i++) {
		if (items[i].info >= 0 && rcs[i] != DOS_ENOTFOUND)
			value = bufs[i];
		else if (!d->skip_missing)
			value = Py_None;
		else
			continue;
		if (value == NULL)	/* too large for a bytes object */
			return PyErr_NoMemory();
		if (PyDict_SetItem(d->dict, PyList_GET_ITEM(self->keys,
		    items[i].key), value) < 0)
			return NULL;
	}
	return d->dict;
}

/*
 * read_dict(hashkeys, skip_missing) -> {key: bytes} of the list hashkeys
 * (distinct), read as read_iter reads them (strict, every object whole),
 * a chunk at a time; with skip_missing False, {key: None} for the missing
 * ones.  Neither metas nor tuples are made.
 */
static PyObject *
Store_read_dict(StoreObject *self, PyObject *args)
{
	struct chunk_dict d = { NULL, 0 };
	ReadIterObject *it;
	PyObject *keys;

	if (!PyArg_ParseTuple(args, "O!p", &PyList_Type, &keys,
	    &d.skip_missing))
		return NULL;
	if ((it = read_iter_new(self, keys, ULLONG_MAX, READ_DICT_CHUNK,
	    1)) == NULL)
		return NULL;
	if ((d.dict = PyDict_New()) != NULL)
		while (next_chunk(it, chunk_dict, &d) != NULL)
			;
	Py_DECREF(it);
	if (PyErr_Occurred())
		Py_CLEAR(d.dict);
	return d.dict;
}

static void
ReadIter_dealloc(ReadIterObject *self)
{
	PyMem_Free(self->infos);
	PyMem_Free(self->items);
	Py_XDECREF(self->keys);
	Py_XDECREF(self->store);
	PyObject_Free(self);
}

static PyTypeObject ReadIterType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "dos._dos.ReadIter",
	.tp_basicsize = sizeof(ReadIterObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Objects read in storage order, a chunk at a time "
	    "(see Store.read_iter).",
	.tp_dealloc = (destructor)ReadIter_dealloc,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)ReadIter_next,
};

/* writer(mode) -> Writer: the pack writer, holding packs/lock. */
static PyObject *
Store_writer(StoreObject *self, PyObject *arg)
{
	int mode = (int)PyLong_AsLong(arg);

	if (mode == -1 && PyErr_Occurred())
		return NULL;
	if (check_open(self) < 0)
		return NULL;
	return Writer_new_for(self, mode);
}

/* reader(hashkey) -> Reader of the object's bytes (NotExistent). */
static PyObject *
Store_reader(StoreObject *self, PyObject *key)
{
	if (check_open(self) < 0)
		return NULL;
	return Reader_new_for(self, key);
}

static PyMethodDef Store_methods[] = {
	{ "close", (PyCFunction)Store_close, METH_NOARGS, NULL },
	{ "config", (PyCFunction)Store_config, METH_NOARGS, NULL },
	{ "add_loose", (PyCFunction)Store_add_loose, METH_VARARGS, NULL },
	{ "info_many", (PyCFunction)Store_info_many, METH_O, NULL },
	{ "list_prefix", (PyCFunction)Store_list_prefix, METH_O, NULL },
	{ "count", (PyCFunction)Store_count, METH_NOARGS, NULL },
	{ "sizes", (PyCFunction)Store_sizes, METH_NOARGS, NULL },
	{ "maintain", (PyCFunction)Store_maintain, METH_VARARGS, NULL },
	{ "remove", (PyCFunction)Store_remove, METH_O, NULL },
	{ "clean", (PyCFunction)Store_clean, METH_NOARGS, NULL },
	{ "fsck", (PyCFunction)Store_fsck, METH_VARARGS, NULL },
	{ "lock", (PyCFunction)Store_lock, METH_O, NULL },
	{ "unlock", (PyCFunction)Store_unlock, METH_O, NULL },
	{ "writer", (PyCFunction)Store_writer, METH_O, NULL },
	{ "reader", (PyCFunction)Store_reader, METH_O, NULL },
	{ "read_iter", (PyCFunction)Store_read_iter, METH_VARARGS, NULL },
	{ "read_dict", (PyCFunction)Store_read_dict, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyTypeObject StoreType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "dos._dos.Store",
	.tp_basicsize = sizeof(StoreObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "An open dos container (see dos.Container).",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Store_init,
	.tp_dealloc = (destructor)Store_dealloc,
	.tp_methods = Store_methods,
};

/* ---- Writer: the pack writer ------------------------------------------ */

typedef struct {
	PyObject_HEAD
	StoreObject *store;
	struct dos_pack_writer *w;
} WriterObject;

static PyObject *
Writer_new_for(StoreObject *s, int mode)
{
	WriterObject *self;

	if ((self = PyObject_New(WriterObject, &WriterType)) == NULL)
		return NULL;
	Py_INCREF(s);
	self->store = s;
	self->w = NULL;
	if (writer_open(s, mode, 0, &self->w) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

static int
writer_check(WriterObject *self)
{
	if (self->w != NULL && !self->store->closing)
		return 0;
	PyErr_SetString(PyExc_ValueError, "the pack writer is closed");
	return -1;
}

static int
pack_write(void *w, const void *buf, size_t len)
{
	return dos_pack_writer_write(w, buf, len);
}

/* Flush when the batch is as large as dos pack's; under the mutex. */
static int
writer_maybe_flush(struct dos_pack_writer *w)
{
	if (dos_pack_writer_pending(w) >= FLUSH_OBJECTS ||
	    dos_pack_writer_pending_bytes(w) >= FLUSH_BYTES)
		return dos_pack_writer_flush(w);
	return 0;
}

/*
 * add(content_or_stream) -> (hex, existed): append one object unless it
 * is packed already (then existed is True).  A loose copy does not count:
 * legacy's pack writers pack an object whatever its loose copy, and
 * looking for one costs a system call per object.
 */
static PyObject *
Writer_add(WriterObject *self, PyObject *obj)
{
	struct dos_oid oid;
	int rc, existed = 0;

	if (writer_check(self) < 0)
		return NULL;
	ENTER(self->store)
	rc = dos_pack_writer_begin(self->w);
	LEAVE(self->store)
	if (rc < 0)
		return raise_dos(rc);
	if (feed(self->store, obj, pack_write, self->w, &rc) < 0) {
		ENTER(self->store)
		dos_pack_writer_abort(self->w);
		LEAVE(self->store)
		return NULL;
	}
	ENTER(self->store)
	if (rc < 0)
		dos_pack_writer_abort(self->w);
	else if ((rc = dos_pack_writer_end(self->w, NULL, 0, &oid,
	    &existed)) == 0)
		rc = writer_maybe_flush(self->w);
	LEAVE(self->store)
	if (rc < 0)
		return raise_dos(rc);
	return Py_BuildValue("(NO)", hex_of(&oid), existed ? Py_True :
	    Py_False);
}

/*
 * add_many(contents) -> list of hex: append bytes-like objects, all
 * without the GIL, deduplicated as add() does.
 */
static PyObject *
Writer_add_many(WriterObject *self, PyObject *contents)
{
	struct dos_oid *oids = NULL;
	Py_buffer *views = NULL;
	PyObject *seq, *out = NULL;
	Py_ssize_t n, i, got = 0;
	int rc = 0, existed;

	if (writer_check(self) < 0)
		return NULL;
	if ((seq = PySequence_Fast(contents, "contents must be a list")) == NULL)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	views = PyMem_Calloc(n ? n : 1, sizeof *views);
	oids = PyMem_Calloc(n ? n : 1, sizeof *oids);
	if (views == NULL || oids == NULL) {
		PyErr_NoMemory();
		goto out;
	}
	for (got = 0; got < n; got++)
		if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, got),
		    &views[got], PyBUF_SIMPLE) < 0)
			goto out;
	ENTER(self->store)
	for (i = 0; rc == 0 && i < n; i++) {
		if ((rc = dos_pack_writer_begin(self->w)) < 0)
			break;
		if ((rc = pack_write(self->w, views[i].buf,
		    (size_t)views[i].len)) < 0) {
			dos_pack_writer_abort(self->w);
			break;
		}
		rc = dos_pack_writer_end(self->w, NULL, 0, &oids[i],
		    &existed);
		if (rc == 0)
			rc = writer_maybe_flush(self->w);
	}
	LEAVE(self->store)
	if (rc < 0) {
		raise_dos(rc);
		goto out;
	}
	if ((out = PyList_New(n)) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		PyObject *hex = hex_of(&oids[i]);

		if (hex == NULL) {
			Py_CLEAR(out);
			break;
		}
		PyList_SET_ITEM(out, i, hex);
	}
out:
	for (i = 0; i < got; i++)
		PyBuffer_Release(&views[i]);
	PyMem_Free(views);
	PyMem_Free(oids);
	Py_DECREF(seq);
	return out;
}

/* flush(): make what was added durable and indexed. */
static PyObject *
Writer_flush(WriterObject *self, PyObject *unused)
{
	int rc;

	if (writer_check(self) < 0)
		return NULL;
	ENTER(self->store)
	rc = dos_pack_writer_flush(self->w);
	LEAVE(self->store)
	if (rc < 0)
		return raise_dos(rc);
	Py_RETURN_NONE;
}

/* close(): unflushed objects are dropped; packs/lock is released. */
static PyObject *
Writer_close(WriterObject *self, PyObject *unused)
{
	if (self->w != NULL)
		writer_close(self->store, self->w);
	self->w = NULL;
	Py_RETURN_NONE;
}

static void
Writer_dealloc(WriterObject *self)
{
	PyObject *r = Writer_close(self, NULL);

	Py_XDECREF(r);
	Py_XDECREF(self->store);
	PyObject_Free(self);
}

static PyMethodDef Writer_methods[] = {
	{ "add", (PyCFunction)Writer_add, METH_O, NULL },
	{ "add_many", (PyCFunction)Writer_add_many, METH_O, NULL },
	{ "flush", (PyCFunction)Writer_flush, METH_NOARGS, NULL },
	{ "close", (PyCFunction)Writer_close, METH_NOARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyTypeObject WriterType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "dos._dos.Writer",
	.tp_basicsize = sizeof(WriterObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The pack writer of a Store (holds packs/lock).",
	.tp_dealloc = (destructor)Writer_dealloc,
	.tp_methods = Writer_methods,
};

/* ---- Reader: one object's bytes, seekable ------------------------------ */

/*
 * The library's reader streams forward only; a seek forward reads and
 * drops bytes, a seek backward reopens the object (the position a read
 * gets to is what the reader has handed out: rpos).  The stream is
 * verified as the library verifies it, whatever the seeks: a damaged
 * object fails the read that reaches its end (InconsistentContent).
 */
typedef struct {
	PyObject_HEAD
	StoreObject *store;
	struct dos_reader r;
	int is_open;
	uint64_t size;
	uint64_t pos;		/* where the next read starts */
	uint64_t rpos;		/* bytes r has handed out */
	PyObject *info;		/* its ObjectMeta */
} ReaderObject;

static PyObject *
Reader_new_for(StoreObject *s, PyObject *key)
{
	ReaderObject *self;
	struct dos_oid oid;
	int rc;

	if (parse_oid(key, &oid) < 0) {
		if (!PyErr_ExceptionMatches(PyExc_ValueError))
			return NULL;
		PyErr_Clear();
		return PyErr_Format(exc_not_existent != NULL ?
		    exc_not_existent : PyExc_KeyError,
		    "No object with hash key %U", key);
	}
	if ((self = PyObject_New(ReaderObject, &ReaderType)) == NULL)
		return NULL;
	Py_INCREF(s);
	self->store = s;
	self->is_open = 0;
	self->info = NULL;
	self->pos = self->rpos = 0;
	ENTER(s)
	rc = dos_reader_open(&s->st, &oid, 0, &self->r);
	LEAVE(s)
	if (rc == DOS_ENOTFOUND) {
		Py_DECREF(self);
		return PyErr_Format(exc_not_existent != NULL ?
		    exc_not_existent : PyExc_KeyError,
		    "No object with hash key %U", key);
	}
	if (rc < 0) {
		Py_DECREF(self);
		return raise_dos(rc);
	}
	self->is_open = 1;
	self->size = self->r.info.size;
	if ((self->info = meta_of(&self->r.info)) == NULL) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

static int
reader_check(ReaderObject *self)
{
	if (self->is_open && self->store->open)
		return 0;
	PyErr_SetString(PyExc_ValueError, "I/O operation on closed file.");
	return -1;
}

/*
 * Under the mutex: bring the reader to self->pos (or its end), then read
 * up to len bytes into buf: the count, or a DOS_E* code.
 */
static ssize_t
reader_read_at(ReaderObject *self, unsigned char *buf, size_t len)
{
	unsigned char skip[64 * 1024];
	struct dos_oid oid;
	size_t got = 0;
	ssize_t n;
	int rc;

	if (self->pos < self->rpos) {
		oid = self->r.info.oid;
		dos_reader_close(&self->r);
		self->rpos = 0;
		if ((rc = dos_reader_open(&self->store->st, &oid, 0,
		    &self->r)) < 0) {
			self->is_open = 0;
			return rc;
		}
	}
	while (self->rpos < self->pos && self->rpos < self->size) {
		uint64_t want = self->pos - self->rpos;

		n = dos_reader_read(&self->r, skip, want < sizeof skip ?
		    (size_t)want : sizeof skip);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		self->rpos += (uint64_t)n;
	}
	if (self->rpos != self->pos)
		return 0;	/* past the end */
	while (got < len) {
		n = dos_reader_read(&self->r, buf + got, len - got);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		got += (size_t)n;
		self->rpos += (uint64_t)n;
	}
	self->pos = self->rpos;
	return (ssize_t)got;
}

/* read(size=-1) -> bytes */
static PyObject *
Reader_read(ReaderObject *self, PyObject *args)
{
	Py_ssize_t size = -1;
	PyObject *out, *arg = Py_None;
	uint64_t left;
	ssize_t n;

	if (!PyArg_ParseTuple(args, "|O", &arg))
		return NULL;
	if (arg != Py_None && (size = PyLong_AsSsize_t(arg)) == -1 &&
	    PyErr_Occurred())
		return NULL;
	if (reader_check(self) < 0)
		return NULL;
	left = self->pos < self->size ? self->size - self->pos : 0;
	if (size < 0 || (uint64_t)size > left) {
		if (left > (uint64_t)PY_SSIZE_T_MAX)
			return PyErr_NoMemory();
		size = (Py_ssize_t)left;
	}
	if ((out = PyBytes_FromStringAndSize(NULL, size)) == NULL)
		return NULL;
	ENTER(self->store)
	n = reader_read_at(self, (unsigned char *)PyBytes_AS_STRING(out),
	    (size_t)size);
	LEAVE(self->store)
	if (n < 0) {
		Py_DECREF(out);
		return raise_dos((int)n);
	}
	if (n != size && _PyBytes_Resize(&out, n) < 0)
		return NULL;
	return out;
}

/* readinto(buffer) -> count */
static PyObject *
Reader_readinto(ReaderObject *self, PyObject *arg)
{
	Py_buffer view;
	ssize_t n;

	if (reader_check(self) < 0)
		return NULL;
	if (PyObject_GetBuffer(arg, &view, PyBUF_WRITABLE) < 0)
		return NULL;
	ENTER(self->store)
	n = reader_read_at(self, view.buf, (size_t)view.len);
	LEAVE(self->store)
	PyBuffer_Release(&view);
	if (n < 0)
		return raise_dos((int)n);
	return PyLong_FromSsize_t(n);
}

/* seek(offset, whence=0) -> the new position */
static PyObject *
Reader_seek(ReaderObject *self, PyObject *args)
{
	long long offset, target;
	int whence = 0;

	if (!PyArg_ParseTuple(args, "L|i", &offset, &whence))
		return NULL;
	if (reader_check(self) < 0)
		return NULL;
	switch (whence) {
	case 0:
		target = offset;
		break;
	case 1:
		target = (long long)self->pos + offset;
		break;
	case 2:
		target = (long long)self->size + offset;
		break;
	default:
		return PyErr_Format(PyExc_ValueError,
		    "invalid whence (%d, should be 0, 1 or 2)", whence);
	}
	if (target < 0)
		return PyErr_Format(PyExc_ValueError,
		    "negative seek position %lld", target);
	self->pos = (uint64_t)target;
	return PyLong_FromLongLong(target);
}

static PyObject *
Reader_tell(ReaderObject *self, PyObject *unused)
{
	if (reader_check(self) < 0)
		return NULL;
	return PyLong_FromUnsignedLongLong(self->pos);
}

static PyObject *
Reader_close(ReaderObject *self, PyObject *unused)
{
	if (self->is_open && self->store->open) {
		ENTER(self->store)
		dos_reader_close(&self->r);
		LEAVE(self->store)
	}
	self->is_open = 0;
	Py_RETURN_NONE;
}

static PyObject *
Reader_get_closed(ReaderObject *self, void *unused)
{
	return PyBool_FromLong(!self->is_open);
}

static PyObject *
Reader_get_info(ReaderObject *self, void *unused)
{
	Py_INCREF(self->info);
	return self->info;
}

static void
Reader_dealloc(ReaderObject *self)
{
	PyObject *r = Reader_close(self, NULL);

	Py_XDECREF(r);
	Py_XDECREF(self->info);
	Py_XDECREF(self->store);
	PyObject_Free(self);
}

static PyMethodDef Reader_methods[] = {
	{ "read", (PyCFunction)Reader_read, METH_VARARGS, NULL },
	{ "readinto", (PyCFunction)Reader_readinto, METH_O, NULL },
	{ "seek", (PyCFunction)Reader_seek, METH_VARARGS, NULL },
	{ "tell", (PyCFunction)Reader_tell, METH_NOARGS, NULL },
	{ "close", (PyCFunction)Reader_close, METH_NOARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef Reader_getset[] = {
	{ "closed", (getter)Reader_get_closed, NULL, NULL, NULL },
	{ "info", (getter)Reader_get_info, NULL, NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject ReaderType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "dos._dos.Reader",
	.tp_basicsize = sizeof(ReaderObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The bytes of one object (see dos.ObjectStream).",
	.tp_dealloc = (destructor)Reader_dealloc,
	.tp_methods = Reader_methods,
	.tp_getset = Reader_getset,
};

/* ---- module functions ------------------------------------------------- */

/*
 * create(path, loose_prefix_len, pack_size_target, compression) -> 0 if
 * made, 1 if path already is a dos container.
 */
static PyObject *
mod_create(PyObject *mod, PyObject *args)
{
	struct dos_config cfg, existing;
	unsigned long long pack_size;
	const char *compression;
	PyObject *pathobj;
	int prefix_len, rc;

	if (!PyArg_ParseTuple(args, "O&iKs", PyUnicode_FSConverter, &pathobj,
	    &prefix_len, &pack_size, &compression))
		return NULL;
	if ((rc = dos_config_init(&cfg)) == 0) {
		cfg.loose_prefix_len = prefix_len;
		cfg.pack_size_target = pack_size;
		rc = dos_codec_parse(compression, &cfg.codec, &cfg.level);
	}
	if (rc == 0) {
		Py_BEGIN_ALLOW_THREADS
		rc = dos_store_create(PyBytes_AS_STRING(pathobj), &cfg,
		    &existing);
		Py_END_ALLOW_THREADS
	}
	Py_DECREF(pathobj);
	if (rc == DOS_EEXIST || rc == DOS_ELEGACY)
		return PyErr_Format(PyExc_FileExistsError,
		    "dos: %s", dos_strerror(rc));
	if (rc < 0)
		return raise_dos(rc);
	return PyLong_FromLong(rc);
}

/* parse_codec(spec) -> (codec name, level), or ValueError. */
static PyObject *
mod_parse_codec(PyObject *mod, PyObject *arg)
{
	enum dos_codec codec;
	const char *spec;
	int level;

	if ((spec = PyUnicode_AsUTF8(arg)) == NULL)
		return NULL;
	if (dos_codec_parse(spec, &codec, &level) < 0)
		return PyErr_Format(PyExc_ValueError,
		    "Unknown or unsupported compression algorithm '%s'", spec);
	return Py_BuildValue("(si)", dos_codec_name(codec), level);
}

static PyObject *
mod_set_exceptions(PyObject *mod, PyObject *args)
{
	PyObject *a, *b, *c, *d;

	if (!PyArg_ParseTuple(args, "OOOO", &a, &b, &c, &d))
		return NULL;
	Py_INCREF(a);
	Py_INCREF(b);
	Py_INCREF(c);
	Py_INCREF(d);
	Py_XSETREF(exc_not_existent, a);
	Py_XSETREF(exc_inconsistent, b);
	Py_XSETREF(exc_not_initialised, c);
	Py_XSETREF(exc_error, d);
	Py_RETURN_NONE;
}

static PyObject *
mod_set_meta(PyObject *mod, PyObject *args)
{
	PyObject *a, *b, *c;

	if (!PyArg_ParseTuple(args, "O!OO", &PyType_Type, &a, &b, &c))
		return NULL;
	Py_INCREF(a);
	Py_INCREF(b);
	Py_INCREF(c);
	Py_XSETREF(meta_type, a);
	Py_XSETREF(meta_loose, b);
	Py_XSETREF(meta_packed, c);
	Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
	{ "create", mod_create, METH_VARARGS, NULL },
	{ "parse_codec", mod_parse_codec, METH_O, NULL },
	{ "set_exceptions", mod_set_exceptions, METH_VARARGS, NULL },
	{ "set_meta", mod_set_meta, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef moddef = {
	PyModuleDef_HEAD_INIT, "dos._dos",
	"The C half of the dos package (see dos.Container).", -1, mod_methods,
	NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC
PyInit__dos(void)
{
	static const char *const fields[6] = { "type", "size", "pack_id",
	    "pack_compressed", "pack_offset", "pack_length" };
	PyObject *m;
	int i;

	for (i = 0; i < 6; i++)
		if (meta_fields[i] == NULL && (meta_fields[i] =
		    PyUnicode_InternFromString(fields[i])) == NULL)
			return NULL;
	if (empty_tuple == NULL && (empty_tuple = PyTuple_New(0)) == NULL)
		return NULL;

	if (PyType_Ready(&StoreType) < 0 || PyType_Ready(&WriterType) < 0 ||
	    PyType_Ready(&ReaderType) < 0 || PyType_Ready(&ReadIterType) < 0)
		return NULL;
	if ((m = PyModule_Create(&moddef)) == NULL)
		return NULL;
	Py_INCREF(&StoreType);
	if (PyModule_AddObject(m, "Store", (PyObject *)&StoreType) < 0 ||
	    PyModule_AddIntConstant(m, "COMPRESS_AUTO", DOS_COMPRESS_AUTO) < 0 ||
	    PyModule_AddIntConstant(m, "COMPRESS_ALWAYS",
	    DOS_COMPRESS_ALWAYS) < 0 ||
	    PyModule_AddIntConstant(m, "COMPRESS_NEVER",
	    DOS_COMPRESS_NEVER) < 0 ||
	    PyModule_AddIntConstant(m, "COMPRESS_KEEP", DOS_COMPRESS_KEEP) < 0 ||
	    PyModule_AddStringConstant(m, "VERSION", DOS_VERSION) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
