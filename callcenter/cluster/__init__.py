"""Several Asterisk nodes behind Kamailio, one PostgreSQL store, one agent pool (README, "Run it as a cluster").

- ``agents``: on a cluster's nodes, SIP agents are rung through Kamailio, where their softphones register.
- ``bus``: what one node's service changes reaches the others at once (PostgreSQL LISTEN/NOTIFY, after commit).
- ``keeper``: this node's heartbeat and leases; a survivor reaps a silent node's calls and reservations.
- ``kamailio``: Kamailio's config, rendered from ``asterisk-conf/kamailio/``, and its process.
"""
