"""osrkit: helpers for the open-set recognition workbook.

A core that knows no paper (``data``, ``train``, ``nets``, ``scoring``, ``evt``,
``metrics``, ``evaluation``, ``attribution``, ``augment``, ``plots``, ``widgets``,
``results``, ``workbook``); one module per open-set method in ``osrkit.methods``, all
behind one interface (``methods.get(name).fit(task) -> {rule: Scorer}``); the papers'
other experiments in ``osrkit.studies``. Importing ``osrkit`` imports nothing heavy.
"""
__version__ = "0.1.0"
