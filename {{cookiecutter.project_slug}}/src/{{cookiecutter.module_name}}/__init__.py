"""{{ cookiecutter.project_name | replace('"', "'") | replace('\\', '/') }}: training and serving for one tabular model.

Read the packages in the order data flows: ``config`` and ``schema`` (shared), then
``training`` (DVC stages), ``registry`` (versions, promotion), ``prediction`` (a verified
model), ``serving`` (HTTP) and ``batch`` (files), ``prediction_log``, ``monitoring`` and
``packaging``. Serving and batch never import training or the registry.
"""

__version__ = "0.1.0"
