"""Release bundles: the serving wheel, the prod model, pinned requirements, a checksum manifest.

``make package`` (``python -m {{ cookiecutter.module_name }}.packaging``) writes one tarball that
installs and serves on another machine with no git, DVC or training code. This package
reads the model store and the source tree; nothing in it ships inside the bundle's wheel
except ``manifest.py``, copied as the bundle's ``verify.py``. Imports ``prediction`` and
the shared modules; never training or the registry.
"""
