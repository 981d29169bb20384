"""What every memory kind is made of: context, identity, namespaces, values, records, errors.

Nothing here touches a store: these modules decide whose memory a run touches
(``identity``), where each kind lives (``namespaces``), what may be written (``values``,
``records``) and how refusals are named (``errors``).
"""
