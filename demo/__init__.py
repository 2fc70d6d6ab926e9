"""The demo and the end-to-end stack: the simulator and a real Home Assistant together.

``demo.stack`` starts both and drives Home Assistant over its public interfaces; the demo
(``python -m demo``, run by ``scripts/develop``) and the end-to-end tests in ``tests/e2e/``
share it. Not shipped: HACS installs ``custom_components/sipthor`` only.
"""
