"""Model versions, promotion, rollback and their audit trail (knows git, DVC and GTO).

A trained model becomes a version with ``register`` (a GTO tag on the commit whose
``dvc.lock`` describes it, and a copy in the model store). ``promote`` moves a version to
prod after the champion/challenger gate and a person's confirmation; ``rollback`` puts
the previous prod version back. The server reads only the store (see
``prediction/store.py``); it never imports this package. The registry imports training
(a retrain runs it), prediction and the shared modules.
"""
