"""A client's side of the governance server: when ``lacuna.yaml`` names one (``server:``), the
governor decides, records audit and lineage, and files exceptions there (:mod:`.client`)."""
