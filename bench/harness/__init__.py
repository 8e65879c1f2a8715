"""Processes the harness starts and always ends (the broker, the stub
server, the workers), and the machine they run on."""
