"""The course's tooling: exercise checkers (``checkers``), the student copy (``student``) and the
checks of the notebooks' papermill parameters (``notebook_settings``)."""
