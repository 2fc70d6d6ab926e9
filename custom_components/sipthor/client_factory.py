"""The client of an account: signed in with its SIP password or its client certificate."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
import ssl
from typing import Any

from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .api import (
    DEFAULT_TIMEOUT,
    CertificateInfo,
    ClientCredentials,
    SipThorClient,
    SipThorCredentialsError,
    create_ssl_context,
)
from .certificate import certificate_path, read_certificate
from .const import CONF_ACCOUNT, CONF_CERTIFICATE_FILE, DOMAIN


def signs_in_with_password(data: Mapping[str, Any]) -> bool:
    """Whether an entry's data sign in with the SIP password (else: the certificate)."""
    return CONF_PASSWORD in data


async def async_create_client(
    hass: HomeAssistant,
    account: str,
    *,
    url: str,
    verify_ssl: bool,
    password: str | None = None,
    credentials: ClientCredentials | None = None,
    ssl_context: ssl.SSLContext | None = None,
    request_timeout: float = DEFAULT_TIMEOUT,
) -> SipThorClient:
    """A client signing in with the certificate, else with ``password``.

    The certificate comes as ``credentials``, or as the ``ssl_context`` already built
    with them.
    """
    if credentials is not None:
        # Loading keys blocks: the executor builds the account's own context.
        ssl_context = await hass.async_add_executor_job(
            partial(create_ssl_context, credentials, verify_server=verify_ssl)
        )
    if ssl_context is None:
        # HTTP Digest (docs/settings-api.md §2.5): Home Assistant's shared session, which
        # verifies the server as the user chose.
        return SipThorClient(
            account,
            password=password,
            url=url,
            session=async_get_clientsession(hass, verify_ssl=verify_ssl),
            request_timeout=request_timeout,
        )
    return SipThorClient(
        account,
        ssl_context,
        url=url,
        session=async_get_clientsession(hass),
        request_timeout=request_timeout,
    )


async def async_client_of_entry(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> tuple[SipThorClient, CertificateInfo | None]:
    """The client of a config entry's ``data``, and its certificate if it uses one.

    Raises ``ConfigEntryAuthFailed`` when the stored certificate cannot be used.
    """
    if signs_in_with_password(data):
        client = await async_create_client(
            hass,
            data[CONF_ACCOUNT],
            url=data[CONF_URL],
            verify_ssl=data[CONF_VERIFY_SSL],
            password=data[CONF_PASSWORD],
        )
        return client, None
    path = certificate_path(hass, data[CONF_CERTIFICATE_FILE])
    try:
        credentials, ssl_context = await hass.async_add_executor_job(
            _stored_certificate, path, data[CONF_VERIFY_SSL]
        )
    except (OSError, SipThorCredentialsError) as err:
        # A missing, unreadable or expired certificate: only a new one helps.
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="certificate_unusable",
            translation_placeholders={"error": str(err)},
        ) from err
    client = await async_create_client(
        hass,
        data[CONF_ACCOUNT],
        url=data[CONF_URL],
        verify_ssl=data[CONF_VERIFY_SSL],
        ssl_context=ssl_context,
    )
    return client, credentials.info


def _stored_certificate(path: Path, verify_ssl: bool) -> tuple[ClientCredentials, ssl.SSLContext]:
    """The stored certificate and the context presenting it: one trip to the executor."""
    credentials = read_certificate(path)
    return credentials, create_ssl_context(credentials, verify_server=verify_ssl)
