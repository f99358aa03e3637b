"""{{ cookiecutter.project_name | replace('"', "'") | replace('\\', '/') }}: training and serving for one tabular model.

The package has two halves that never meet: ``training`` (data, features, DVC stages)
and ``prediction`` (a saved artifact and the schema). Both import only ``config``,
``schema`` and ``storage``.
"""

__version__ = "0.1.0"
