"""Constants that both the library and the CLI's flags need, in a module that imports nothing.

They live here, not in `kerattn`, because importing any `kerattn` module runs the package's
`__init__`, which imports TensorFlow; `kerattn --help` must answer without it. The library
re-exports them where they belong (`kerattn.zoo.tasks.TASKS`).
"""

TASKS = ("translation", "g2p", "classification")  # the zoo's tasks, as `--task` accepts them
