"""One package per outside system we deliver to (and hear back from): its SDK stays in there.

May import: domain, the notifications room's messages, outcomes and stores, the incidents
service (webhooks act through it), and that channel's own SDK.
"""
