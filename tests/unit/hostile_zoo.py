"""Objects whose every Python-level hook records the thread that called it, placed where the
profiler's walks look: module globals, container entries, dict keys, instance attributes, holders
of a leaking type. ``calls_off_main()`` lists the hooks run by any thread but the host's main one.

Each hook raises after recording: a walk that called one would also have had to survive it.
"""

import functools
import threading

import lazy_object_proxy
import wrapt

_calls = []
_lock = threading.Lock()


def record(hook):
    thread = threading.current_thread()
    if thread is not threading.main_thread():
        with _lock:
            _calls.append((thread.name, hook))


def calls_off_main():
    with _lock:
        return list(_calls)


class Trap(Exception):
    pass


def _hook(name):
    def hook(self, *args, **kwargs):
        record(f"{type(self).__name__}.{name}")
        raise Trap(name)

    return hook


class RecordingDescriptor:
    def __get__(self, instance, owner=None):
        record("descriptor.__get__")
        raise Trap("descriptor")


class HostileMeta(type):
    """Classes whose hashing, comparison, attribute reads and checks run code."""

    def __hash__(cls):
        record("HostileMeta.__hash__")
        return type.__hash__(cls)

    def __eq__(cls, other):
        record("HostileMeta.__eq__")
        return cls is other

    def __getattribute__(cls, name):
        if name not in ("__dict__", "__mro__", "__name__", "__qualname__", "__module__", "__init__"):
            record(f"HostileMeta.__getattribute__({name})")
        return type.__getattribute__(cls, name)

    def __instancecheck__(cls, instance):
        record("HostileMeta.__instancecheck__")
        return False

    def __subclasscheck__(cls, subclass):
        record("HostileMeta.__subclasscheck__")
        return False

    def __repr__(cls):
        record("HostileMeta.__repr__")
        return "HostileMeta"


class Hostile(metaclass=HostileMeta):
    """An instance whose every hook records and raises; its real attributes live in its slot dict."""

    trap = RecordingDescriptor()

    def __init__(self, payload=None):
        object.__setattr__(self, "payload", payload)

    __getattribute__ = _hook("__getattribute__")
    __getattr__ = _hook("__getattr__")
    __setattr__ = _hook("__setattr__")
    __eq__ = _hook("__eq__")
    __len__ = _hook("__len__")
    __iter__ = _hook("__iter__")
    __sizeof__ = _hook("__sizeof__")
    __format__ = _hook("__format__")
    __repr__ = _hook("__repr__")
    __str__ = _hook("__str__")
    __bool__ = _hook("__bool__")
    __reduce_ex__ = _hook("__reduce_ex__")

    def __hash__(self):
        record("Hostile.__hash__")
        return id(self) >> 4

    @property
    def __class__(self):
        record("Hostile.__class__")
        raise Trap("__class__")

    @property
    def __dict__(self):
        record("Hostile.__dict__")
        raise Trap("__dict__")


class HostileKey(str):
    """A str key whose own methods record; its hash is str's, so the host can store and find it."""

    def __hash__(self):
        record("HostileKey.__hash__")
        return str.__hash__(self)

    __eq__ = _hook("__eq__")
    __format__ = _hook("__format__")
    __str__ = _hook("__str__")
    __repr__ = _hook("__repr__")
    __len__ = _hook("__len__")


class CollidingKey(str):
    """A class-namespace key that hashes like ``__module__``: a lookup of ``__module__`` in that
    namespace would ask its ``__eq__``."""

    def __hash__(self):
        return hash("__module__")

    def __eq__(self, other):
        record("CollidingKey.__eq__")
        return False


Colliding = type("Colliding", (), {CollidingKey("x"): 1})


class BorrowedSizeof(Hostile):
    """A built-in method under the name ``__sizeof__`` that is not one: it reads attributes."""

    __sizeof__ = object.__dir__


class HostileList(list):
    __len__ = _hook("__len__")
    __iter__ = _hook("__iter__")
    __reversed__ = _hook("__reversed__")
    __getitem__ = _hook("__getitem__")
    __sizeof__ = _hook("__sizeof__")
    __eq__ = _hook("__eq__")
    __hash__ = None


class HostileDict(dict):
    __len__ = _hook("__len__")
    __iter__ = _hook("__iter__")
    __getitem__ = _hook("__getitem__")
    keys = _hook("keys")
    items = _hook("items")
    values = _hook("values")
    get = _hook("get")
    __sizeof__ = _hook("__sizeof__")
    __eq__ = _hook("__eq__")
    __hash__ = None


class SimpleLazyObject:
    """Django's ``SimpleLazyObject`` in brief: every attribute, ``__class__`` and ``__dict__``
    included, evaluates the factory."""

    def __init__(self, factory):
        object.__setattr__(self, "_setupfunc", factory)
        object.__setattr__(self, "_wrapped", None)

    def _setup(self):
        record("SimpleLazyObject._setup")
        raise Trap("evaluated")

    def __getattr__(self, name):
        self._setup()

    @property
    def __class__(self):
        self._setup()

    def __eq__(self, other):
        self._setup()

    def __hash__(self):
        self._setup()

    def __len__(self):
        self._setup()

    def __iter__(self):
        self._setup()


def _lazy_factory():
    record("lazy_object_proxy factory")
    raise Trap("evaluated")


class _WrappedTarget:
    """What a wrapt proxy wraps: every attribute read through the proxy reaches it."""

    def __getattribute__(self, name):
        record(f"wrapt target.__getattribute__({name})")
        return object.__getattribute__(self, name)


class Leaked:
    """The leaking type: each instance also holds hostile things."""

    def __init__(self, index):
        self.index = index
        self.friend = Hostile(index)


class Holder:
    """A plain instance whose attribute is a hostile container of leaked objects."""

    def __init__(self):
        self.kept = HostileList()


class HostileLocal(threading.local):
    """A thread-local whose attribute hooks record: its attributes live in per-thread dicts."""

    __getattribute__ = _hook("__getattribute__")
    __getattr__ = _hook("__getattr__")
    __setattr__ = _hook("__setattr__")


@functools.cache
def cached(index):
    """An unbounded cache whose names the host replaced: a hostile ``__wrapped__`` and a
    ``__qualname__`` whose own methods record."""
    return [index]


cached.__wrapped__ = Hostile("wrapped")
cached.__qualname__ = HostileKey("cached")

APP_LOCK = threading.Lock()


def _settings_factory():
    """A lazy settings object's factory that takes the application's lock, as Django's does."""
    record("settings factory")
    with APP_LOCK:
        return {"debug": False}


# Module globals: each kind of hostile object, and containers that grow with the workload.
SETTINGS = lazy_object_proxy.Proxy(_settings_factory)
LAZY = lazy_object_proxy.Proxy(_lazy_factory)
WRAPPED = wrapt.ObjectProxy(_WrappedTarget())
DJANGO_LAZY = SimpleLazyObject(_lazy_factory)
HOSTILE = Hostile("global")
HOSTILE_LIST = HostileList()
HOSTILE_DICT = HostileDict()
KEYED = {}  # HostileKey keys, lists of leaked objects as values
BY_HOSTILE = {}  # Hostile objects as keys
HOLDER = Holder()
PROXIES = []  # proxies as container entries
GROUPS = [HostileKey(f"group{index}") for index in range(3)]  # reused: a new equal key would ask __eq__
LOCAL = HostileLocal()
threading.local.__setattr__(LOCAL, "kept", HostileList())


def grow(step):
    """One request's worth of leaking, through every kind of hostile place."""
    for index in range(step * 50, step * 50 + 50):
        leaked = Leaked(index)
        list.append(HOSTILE_LIST, leaked)
        dict.__setitem__(HOSTILE_DICT, HostileKey(f"k{index}"), leaked)
        list.append(HOLDER.kept, leaked)
        list.append(threading.local.__getattribute__(LOCAL, "kept"), leaked)
        cached(index)
        BY_HOSTILE[Hostile(index)] = leaked
        list.append(HOSTILE_LIST, Colliding())
        list.append(HOSTILE_LIST, BorrowedSizeof(index))
        PROXIES.append(lazy_object_proxy.Proxy(_lazy_factory))
        PROXIES.append(SimpleLazyObject(_lazy_factory))
        PROXIES.append(wrapt.ObjectProxy(_WrappedTarget()))
    KEYED.setdefault(GROUPS[step % 3], []).extend(Hostile(step) for _ in range(50))
