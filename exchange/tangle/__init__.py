"""The tangle: a feeless DAG ledger (IOTA style) with nodes, gossip and SQL persistence.

Modules: ``tx`` (canonical encoding, PoW, signatures), ``ledger`` (milestone confirmation,
pure), ``tipsel`` (MCMC random walk), ``store`` (SQLModel tables), ``node`` (ingest,
solidification, gossip, coordinator), ``server`` (HTTP), ``client``, ``wallet``, ``testing``.
"""
