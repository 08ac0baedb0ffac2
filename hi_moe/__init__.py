"""Services the graph's nodes call, one concern per subpackage, and the run app and CLI on top.

Bottom to top: errors; llm, sandbox, routing, problems, adapters (services: never import
graph.builder or nodes); app (runs, batches, registry, display); cli (the `hi-moe` command).
"""
