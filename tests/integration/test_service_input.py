"""What the actions refuse, before any request: translated, naming the field."""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sipthor.const import DOMAIN
from simulator import SettingsSimulator
from tests.conftest import ACCOUNT


async def _refused(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    simulator: SettingsSimulator,
    service: str,
    data: dict[str, Any],
) -> ServiceValidationError:
    """Call ``service``, expect a refusal, and check that nothing reached the server."""
    simulator.counters.reset()
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN, service, {"config_entry_id": entry.entry_id, **data}, blocking=True
        )
    assert not simulator.counters.requests, "a refused action must send nothing"
    # The message is translated: no placeholder is left unfilled.
    message = str(raised.value)
    assert message
    assert "{" not in message
    return raised.value


@pytest.mark.parametrize(
    ("target", "translation_key"),
    [
        ("sip:123\nFUNC=evil@example.com", "forwarding_target_characters"),
        ("bob\x00@example.com", "forwarding_target_characters"),
        ("bob @example.com", "forwarding_target_characters"),
        ("bob\t@example.com", "forwarding_target_characters"),
        ("bob\u200b@example.com", "forwarding_target_characters"),
        ("1" * 10_000, "forwarding_target_too_long"),
        ("b" * 250 + "@example.com", "forwarding_target_too_long"),
        ("<other>", "unknown_keyword"),
        ("<Voice-Mailbox>", "unknown_keyword"),
        ("<voice-mailbox", "unknown_keyword"),
        ("sips:bob@example.com", "forwarding_target_sips"),
        ("bob", "invalid_forwarding_target"),
        ("bob@", "invalid_forwarding_target"),
        ("@example.com", "invalid_forwarding_target"),
        ("sip:", "invalid_forwarding_target"),
        ("http://example.com/", "invalid_forwarding_target"),
        ("bob@exa_mple.com", "invalid_forwarding_target"),
        ("bob@example.com?FUNC=x", "invalid_forwarding_target"),
        ("a&action=set_dnd_on@example.com", "invalid_forwarding_target"),
        ("bob@example.com@evil.com", "invalid_forwarding_target"),
        (31612345678, "forwarding_target_not_text"),
        (True, "forwarding_target_not_text"),
    ],
)
async def test_forwarding_target_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    target: Any,
    translation_key: str,
) -> None:
    forwarding = dict(simulator.platform.accounts[ACCOUNT].forwarding)
    refusal = await _refused(
        hass, init_integration, simulator, "set_call_forwarding", {"busy": "", "no_answer": target}
    )
    if translation_key == "unknown_keyword":
        assert refusal.translation_key == translation_key
    else:
        # The field is named, so the user knows which of several targets is wrong: by
        # the name the action's form shows, not by its key.
        assert refusal.translation_key == f"{translation_key}_no_answer"
        assert '"When not answered"' in str(refusal)
        assert "no_answer" not in str(refusal)
    # The valid one next to it was not written either.
    assert simulator.platform.accounts[ACCOUNT].forwarding == forwarding


async def test_refused_target_is_shown_short_and_printable(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    refusal = await _refused(
        hass, init_integration, simulator, "set_call_forwarding", {"always": "x" * 200}
    )
    assert refusal.translation_key == "invalid_forwarding_target_always"
    assert len(refusal.translation_placeholders["target"]) <= 61


@pytest.mark.parametrize(
    ("target", "stored"),
    [
        ("0612345678", "sip:0612345678@example.com"),
        ("+31612345678", "sip:+31612345678@example.com"),
        ("bob@example.net", "sip:bob@example.net"),
        ("  bob@example.net  ", "sip:bob@example.net"),
        ("sip:bob@example.net", "sip:bob@example.net"),
        ("SIP:bob@example.net", "sip:bob@example.net"),
        ("sip:bob@example.net:5061;transport=tls", "sip:bob@example.net:5061;transport=tls"),
        ("bob.smith-jr_2@sub.example.net", "sip:bob.smith-jr_2@sub.example.net"),
        ("bob%20x@example.net", "sip:bob%20x@example.net"),
        ("bob@192.0.2.7", "sip:bob@192.0.2.7"),
        ("<voice-mailbox>", "<voice-mailbox>"),
        ("<mobile-number>", "sip:+31612345678@example.com"),
        ("b" * 243 + "@example.com", "sip:" + "b" * 243 + "@example.com"),
        # Phone numbers as people write them (RFC 3966's visual separators, and spaces).
        ("+31 20 555 1234", "sip:+31205551234@example.com"),
        ("06-1234 5678", "sip:0612345678@example.com"),
        ("(020) 555 1234", "sip:0205551234@example.com"),
        ("020.555.1234", "sip:0205551234@example.com"),
        ("030 / 123 45 67", "sip:0301234567@example.com"),
        ("+31\u00a06\u00a01234\u00a05678", "sip:+31612345678@example.com"),
        # The 0 in "(0)" is dialled only within the country: +31 20…, not +31 020….
        ("+31 (0)20 555 1234", "sip:+31205551234@example.com"),
        ("+44 (0) 20 7946 0958", "sip:+442079460958@example.com"),
    ],
)
async def test_forwarding_target_accepted(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    target: str,
    stored: str,
) -> None:
    await hass.services.async_call(
        DOMAIN,
        "set_call_forwarding",
        {"config_entry_id": init_integration.entry_id, "always": target},
        blocking=True,
    )
    assert simulator.platform.accounts[ACCOUNT].forwarding["FUNC"] == stored


@pytest.mark.parametrize(
    ("username", "translation_key"),
    [
        ("", "invalid_alias"),
        ("   ", "invalid_alias"),
        ("bob@", "invalid_alias"),
        ("bob@exa mple.com", "invalid_alias"),
        ("sips:bob@example.com", "invalid_alias"),
        ("two words", "invalid_alias"),
        ("<script>", "invalid_alias"),
        ("a&action=set_dnd_on", "invalid_alias"),
        ("../x", "invalid_alias"),
        ("..", "invalid_alias"),
        ("x\x00y", "invalid_alias"),
        ("a" * 65, "alias_too_long"),
        ("a" * 1000, "alias_too_long"),
        (12345, "invalid_alias"),
    ],
)
async def test_alias_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    username: Any,
    translation_key: str,
) -> None:
    aliases = list(simulator.platform.accounts[ACCOUNT].aliases)
    refusal = await _refused(hass, init_integration, simulator, "add_alias", {"username": username})
    assert refusal.translation_key == translation_key
    assert simulator.platform.accounts[ACCOUNT].aliases == aliases


async def test_alias_in_another_domain_is_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: SettingsSimulator
) -> None:
    """The server adds the account's domain to whatever it gets: bob@other would be lost."""
    refusal = await _refused(
        hass, init_integration, simulator, "add_alias", {"username": "bob@example.org"}
    )
    assert refusal.translation_key == "alias_other_domain"
    assert "example.com" in str(refusal)


@pytest.mark.parametrize(
    ("given", "username"),
    [
        ("bob@example.com", "bob"),
        ("Bob@EXAMPLE.COM", "Bob"),
        ("sip:bob@example.com", "bob"),
        ("  bob@example.com.  ", "bob"),
    ],
)
async def test_alias_in_the_accounts_own_domain_is_tidied(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    given: str,
    username: str,
) -> None:
    response = await hass.services.async_call(
        DOMAIN,
        "add_alias",
        {"config_entry_id": init_integration.entry_id, "username": given},
        blocking=True,
        return_response=True,
    )
    assert simulator.counters.last("add_alias").params["username"] == username
    assert "bob@example.com" in simulator.platform.accounts[ACCOUNT].aliases
    assert response == {"username": username, "alias": "bob@example.com"}


async def test_forwarding_answers_what_it_sent(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A tidied number is not what was typed: the answer (and the debug log) says so."""
    caplog.set_level(logging.DEBUG, logger="custom_components.sipthor")
    response = await hass.services.async_call(
        DOMAIN,
        "set_call_forwarding",
        {
            "config_entry_id": init_integration.entry_id,
            "always": "+31 (0)6 1234 5678",
            "busy": None,
        },
        blocking=True,
        return_response=True,
    )
    assert response == {"always": "+31612345678", "busy": ""}
    assert simulator.platform.accounts[ACCOUNT].forwarding["FUNC"] == (
        "sip:+31612345678@example.com"
    )
    assert "setting call forwarding {'always': '+31612345678', 'busy': ''}" in caplog.text


@pytest.mark.parametrize(
    "target", ["192.168.1.10", "+31 20 555 1234@example.com", "+31 20 555 12 34 x"]
)
async def test_what_is_not_a_number_is_not_tidied(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    target: str,
) -> None:
    """An address with dots is not dialled as digits; spaces elsewhere stay refused."""
    refusal = await _refused(
        hass, init_integration, simulator, "set_call_forwarding", {"always": target}
    )
    assert refusal.translation_key in (
        "invalid_forwarding_target_always",
        "forwarding_target_characters_always",
    )


@pytest.mark.parametrize("username", ["a" * 64, "alice.j", "jan-piet_2", "+31201234567"])
async def test_alias_accepted(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    username: str,
) -> None:
    await hass.services.async_call(
        DOMAIN,
        "add_alias",
        {"config_entry_id": init_integration.entry_id, "username": username},
        blocking=True,
    )
    assert f"{username.lower()}@example.com" in simulator.platform.accounts[ACCOUNT].aliases


@pytest.mark.parametrize(
    "duration", [1.5, 1.9, 0.5, True, False, "1.5", "soon", "", 0, -5, 10081, 100_000, None]
)
async def test_duration_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    duration: Any,
) -> None:
    refusal = await _refused(
        hass, init_integration, simulator, "enable_dnd", {"duration": duration}
    )
    assert refusal.translation_key == "invalid_duration"
    assert simulator.platform.accounts[ACCOUNT].dnd_until is None


@pytest.mark.parametrize(
    ("duration", "sent"), [(1, "1"), (90, "90"), (90.0, "90"), ("45", "45"), (10080, "10080")]
)
async def test_duration_accepted(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    duration: Any,
    sent: str,
) -> None:
    await hass.services.async_call(
        DOMAIN,
        "enable_dnd",
        {"config_entry_id": init_integration.entry_id, "duration": duration},
        blocking=True,
    )
    assert simulator.counters.last("set_dnd_on").params["duration"] == sent


VOUCHER = "4829175530612847"


@pytest.mark.parametrize(
    "voucher_id", [0, -1, 1.5, True, "12abc", "", " ", "1e3", 2**31, "١٢", None]
)
async def test_voucher_id_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    voucher_id: Any,
) -> None:
    """The page would send intval() of it: "12abc" is voucher 12, someone else's."""
    refusal = await _refused(
        hass, init_integration, simulator, "add_balance", {"id": voucher_id, "number": VOUCHER}
    )
    assert refusal.translation_key == "invalid_voucher_id"
    assert simulator.platform.vouchers[(1001, VOUCHER)].used is False


@pytest.mark.parametrize(
    ("number", "translation_key"),
    [
        ("", "invalid_voucher_number"),
        ("   ", "invalid_voucher_number"),
        ("4829 1755 3061 2847", "invalid_voucher_number"),
        ("4829-1755-3061-2847", "invalid_voucher_number"),
        ("4829175530612847&id=1002", "invalid_voucher_number"),
        ("48291755\n30612847", "invalid_voucher_number"),
        ("\uff14\uff18\uff12\uff19", "invalid_voucher_number"),  # full-width digits
        ("9" * 65, "invalid_voucher_number"),
        (4829175530612847, "voucher_number_not_text"),
    ],
)
async def test_voucher_number_refused_without_repeating_it(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    *,
    caplog: pytest.LogCaptureFixture,
    number: Any,
    translation_key: str,
) -> None:
    refusal = await _refused(
        hass, init_integration, simulator, "add_balance", {"id": 1001, "number": number}
    )
    assert refusal.translation_key == translation_key
    # Whoever reads the number can spend it: not in the message, not in the log.
    if str(number).strip():
        assert str(number) not in str(refusal)
        assert str(number) not in caplog.text


@pytest.mark.parametrize(
    ("voucher_id", "number", "sent"),
    [
        (1001, VOUCHER, ("1001", VOUCHER)),
        (1001.0, f" {VOUCHER} ", ("1001", VOUCHER)),
        ("1003", "5502718364950127", ("1003", "5502718364950127")),
    ],
)
async def test_voucher_accepted(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: SettingsSimulator,
    *,
    voucher_id: Any,
    number: str,
    sent: tuple[str, str],
) -> None:
    """A number selector answers 1001.0; a pasted number may carry spaces around it."""
    await hass.services.async_call(
        DOMAIN,
        "add_balance",
        {"config_entry_id": init_integration.entry_id, "id": voucher_id, "number": number},
        blocking=True,
    )
    request = simulator.counters.last("add_balance")
    assert (request.params["id"], request.params["number"]) == sent
