"""The node agent: stands in for the kubelets of the Nodes it registers.

Run as `python -m testenv.agent CONFIG.json` (see `testenv.nodeagent`).
"""
