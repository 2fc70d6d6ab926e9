"""Turning client errors into what Home Assistant shows a user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .api import SipThorApiError, SipThorAuthenticationError, SipThorConnectionError, SipThorError
from .const import DOMAIN
from .coordinator import SipThorConfigEntry


@asynccontextmanager
async def translated_errors(hass: HomeAssistant, entry: SipThorConfigEntry) -> AsyncIterator[None]:
    """Raise translated ``HomeAssistantError``s for client errors of a write.

    A refused certificate also starts reauthentication, so the user is asked for a
    new one. A refusal by the server carries the server's own message.
    """
    try:
        yield
    except SipThorAuthenticationError as err:
        entry.async_start_reauth(hass)
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="authentication_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    except SipThorConnectionError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="communication_error",
            translation_placeholders={"error": str(err)},
        ) from err
    except SipThorApiError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="server_refused",
            translation_placeholders={"message": err.message},
        ) from err
    except SipThorError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="server_error",
            translation_placeholders={"error": str(err)},
        ) from err
