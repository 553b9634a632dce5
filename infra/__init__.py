"""The CDK app that deploys Stowage: ``app`` (entry point), ``config`` (validated context),
``stack`` (composition and grants), ``constructs/`` (one per concern), ``bundling``
(the Lambda asset, built with pip for aarch64 without Docker) and ``nag`` (cdk-nag).
"""
