"""Workers on other hosts: agents coordinated through the broker.

signing (every command and reply carries an HMAC over its body), clock (the
offset of each host's clock from round trips), protocol (the messages on the
broker), agent (`python -m bench agent`), control (the harness's side) and
remote (one point measured on agents)."""
