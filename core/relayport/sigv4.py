"""AWS Signature Version 4 for vendor plugins, with botocore's signer (`relayport[aws]`).

Reusable pieces for AWS-hosted vendors (Bedrock, SageMaker): a `ProviderSpec.signer` that signs
the final request bytes, and a credential provider that resolves AWS keys the way the AWS SDKs
do (environment, shared config and profiles, SSO, container and instance roles)::

    SPEC = ProviderSpec(..., auth="none", credentials=aws_credentials, signer=sigv4_signer("bedrock"))

The region is the deployment's `options.region` (else botocore's: `AWS_DEFAULT_REGION` or the profile's,
else us-east-1); `options.profile` picks a named profile. Keys never appear in reprs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import attrs

from relayport.credentials import Credential, OutgoingRequest, Signer
from relayport.model.errors import GatewayError
from relayport.provider import Deployment

# botocore refreshes temporary keys itself; asking it again this often is cheap and keeps a
# rotated key from being used long after botocore has a new one.
RECHECK_SECONDS = 300.0


@attrs.define(frozen=True, repr=False)
class AwsKeys:
    """AWS keys, as `Credential.material` for `sigv4_signer`."""

    access_key: str
    secret_key: str
    token: str | None = None
    region: str | None = None

    def __repr__(self) -> str:
        return "AwsKeys(...)"


def _botocore() -> Any:
    try:
        import botocore.session
    except ImportError:
        raise GatewayError(500, "AWS signing needs botocore: pip install 'relayport[aws]'",
                           code="upstream_credentials") from None
    return botocore.session


@attrs.define(repr=False)
class BotocoreCredentials:
    """A `CredentialProvider` resolving keys with botocore's chain (in a thread: it may block)."""

    profile: str | None = None
    region: str | None = None

    async def fetch(self) -> Credential:
        return await asyncio.to_thread(self._resolve)

    def _resolve(self) -> Credential:
        session = _botocore().Session(profile=self.profile)
        found = session.get_credentials()
        if found is None:
            raise GatewayError(500, "No AWS credentials found (environment, profile or role).",
                               code="upstream_credentials")
        frozen = found.get_frozen_credentials()
        keys = AwsKeys(frozen.access_key, frozen.secret_key, frozen.token,
                       self.region or session.get_config_variable("region"))
        return Credential({}, expires_at=time.time() + RECHECK_SECONDS, material=keys)


def aws_credentials(dep: Deployment) -> BotocoreCredentials:
    """`ProviderSpec.credentials` for AWS vendors."""
    opts = dep.options
    return BotocoreCredentials(opts.get("profile"), opts.get("region"))


def sigv4_signer(service: str, default_region: str = "us-east-1") -> Signer:
    """A `ProviderSpec.signer` that signs with SigV4 for `service` (e.g. "bedrock").

    Needs a credential whose `material` is `AwsKeys` (`aws_credentials` gives one).
    """
    def sign(dep: Deployment, req: OutgoingRequest) -> None:
        keys = req.credential.material if req.credential is not None else None
        if not isinstance(keys, AwsKeys):
            raise GatewayError(500, f"{dep.provider.name}: SigV4 signing needs AWS keys.",
                               code="upstream_credentials")
        region = dep.options.get("region") or keys.region or default_region
        _botocore()  # a clear error when botocore is missing
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        aws = AWSRequest(method=req.method, url=req.url, data=req.body or b"", headers=req.headers)
        SigV4Auth(Credentials(keys.access_key, keys.secret_key, keys.token), service, region).add_auth(aws)
        req.headers.update(aws.headers.items())

    return sign
