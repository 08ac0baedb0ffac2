"""Services the graph's nodes call: endpoint, local server, problems, sandbox, call log, CLI."""
