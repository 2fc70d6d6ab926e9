"""Every write action: what reaches the server, what it answers, what reads show after."""

from __future__ import annotations

import logging
import re
import traceback

import pytest

from custom_components.sipthor.api import (
    MOBILE_NUMBER,
    VOICE_MAILBOX,
    DndState,
    ForwardingCondition,
    SipThorApiError,
    SipThorClient,
    SipThorError,
)
from custom_components.sipthor.api.privacy import privacy_from_settings_page
from simulator import Behaviour, SettingsSimulator
from simulator.server import Faults
from tests.api.conftest import BOB, CAROL, ClientFactory, RawRequest
from tests.conftest import ACCOUNT

ALWAYS = ForwardingCondition.ALWAYS
NOT_ONLINE = ForwardingCondition.NOT_ONLINE
BUSY = ForwardingCondition.BUSY
NO_ANSWER = ForwardingCondition.NO_ANSWER
UNAVAILABLE = ForwardingCondition.UNAVAILABLE


async def test_dnd_on_with_a_duration(simulator: SettingsSimulator, client: SipThorClient) -> None:
    result = await client.set_dnd_on(45)

    assert result.success
    assert result.message == "Do not disturb has been enabled for 45 minutes"
    assert simulator.counters.last("set_dnd_on").params["duration"] == "45"
    rules = await client.get_accept_rules()
    assert rules.dnd_state is DndState.ON
    assert rules.dnd_minutes_left == 45
    assert rules.temporary_groups == ["nobody"]


async def test_dnd_on_without_an_end(simulator: SettingsSimulator, client: SipThorClient) -> None:
    result = await client.set_dnd_on()

    assert result.success
    assert result.message == "Do not disturb has been enabled"
    assert "duration" not in simulator.counters.last("set_dnd_on").params
    rules = await client.get_accept_rules()
    # nobody, 0 minutes: only the caller knows it asked for no end (docs/settings-api.md §6.1).
    assert rules.dnd_state is DndState.ON_OR_EXPIRED
    assert rules.dnd_minutes_left is None


@pytest.mark.parametrize("duration", [0, -5])
async def test_dnd_on_refuses_a_duration_that_is_not_positive(
    simulator: SettingsSimulator, client: SipThorClient, duration: int
) -> None:
    with pytest.raises(ValueError, match="positive number of minutes"):
        await client.set_dnd_on(duration)

    assert simulator.counters.requests["set_dnd_on"] == 0


async def test_dnd_off(simulator: SettingsSimulator, client: SipThorClient) -> None:
    await client.set_dnd_on(10)

    result = await client.set_dnd_off()

    assert result.success
    assert result.message == "Do not disturb has been disabled"
    rules = await client.get_accept_rules()
    assert rules.dnd_state is DndState.OFF
    assert rules.temporary_groups == ["everybody"]
    # The persistent rules survive both writes.
    assert [rule.days for rule in rules.persistent] == [31]


async def test_dnd_messages_follow_the_account_language(make_client: ClientFactory) -> None:
    carol = make_client(CAROL)

    on = await carol.set_dnd_on(5)
    off = await carol.set_dnd_off()

    assert on.message == "Niet storen is ingeschakeld voor 5 minuten"
    assert off.message == "Niet storen is uitgeschakeld"
    assert on.success
    assert off.success


async def test_privacy_on_and_off(
    simulator: SettingsSimulator, client: SipThorClient, raw: RawRequest
) -> None:
    alice = simulator.platform.accounts[ACCOUNT]

    on = await client.set_privacy_on()
    assert on.success
    assert on.message == "Caller-ID is now hidden for outgoing calls"
    assert alice.privacy
    page = await raw({"account": ACCOUNT, "tab": "settings"})
    assert privacy_from_settings_page(page.text) is True

    off = await client.set_privacy_off()
    assert off.success
    assert off.message == "Caller-ID is now visible for outgoing calls"
    assert not alice.privacy
    page = await raw({"account": ACCOUNT, "tab": "settings"})
    assert privacy_from_settings_page(page.text) is False


async def test_privacy_on_twice_may_fail(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """Open question 5: NGNPro may refuse to add the account to ``anonymous`` twice."""
    simulator.platform.behaviour = Behaviour(privacy_on_fails_when_set=True)
    await client.set_privacy_on()

    with pytest.raises(SipThorApiError) as caught:
        await client.set_privacy_on()

    assert caught.value.message.startswith("Error (SipPort): Account is already in group")
    assert simulator.platform.accounts[ACCOUNT].privacy


async def test_privacy_on_twice_succeeds_by_default(client: SipThorClient) -> None:
    await client.set_privacy_on()
    assert (await client.set_privacy_on()).success


async def test_add_alias(simulator: SettingsSimulator, client: SipThorClient) -> None:
    result = await client.add_alias("  Ally ")

    assert result.success
    assert result.message == "Added alias ally"
    assert simulator.counters.last("add_alias").params["username"] == "Ally"
    assert "ally@example.com" in await client.get_aliases()


@pytest.mark.parametrize("username", ["", "   "])
async def test_add_alias_needs_a_username(
    simulator: SettingsSimulator, client: SipThorClient, username: str
) -> None:
    with pytest.raises(ValueError, match="needs a user name"):
        await client.add_alias(username)

    assert simulator.counters.requests["add_alias"] == 0


async def test_add_alias_refused_by_the_server(client: SipThorClient) -> None:
    with pytest.raises(SipThorApiError) as caught:
        await client.add_alias("a.jansen")

    assert caught.value.message == (
        "Error (SipPort): Alias a.jansen@example.com already exists (1011): Duplicate alias"
    )
    assert str(caught.value) == caught.value.message


async def test_forward_every_condition(
    simulator: SettingsSimulator, client: SipThorClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.sipthor.api")

    result = await client.set_call_forwarding(
        {
            ALWAYS: "0612345678",
            NOT_ONLINE: "bob@other.net",
            BUSY: VOICE_MAILBOX,
            NO_ANSWER: MOBILE_NUMBER,
            UNAVAILABLE: "+31612345678@other.net",
        }
    )

    # The body starts with "Key FUNC changed 0612345678Key FNOL changed …": no warning.
    assert result.success
    assert result.message == (
        "Changed diversions FUNC=sip:0612345678@example.com FNOL=sip:bob@other.net "
        "FBUS=<voice-mailbox> FNOA=sip:+31612345678@example.com "
        "FUNV=sip:+31612345678@example.com "
    )
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    sent = simulator.counters.last("set_call_forwarding").params
    assert {key: sent[key] for key in ("FUNC", "FNOL", "FBUS", "FNOA", "FUNV")} == {
        "FUNC": "0612345678",
        "FNOL": "bob@other.net",
        "FBUS": "<voice-mailbox>",
        "FNOA": "<mobile-number>",
        "FUNV": "+31612345678@other.net",
    }
    forwarding = await client.get_call_forwarding()
    assert forwarding.targets == {
        ALWAYS: "0612345678@example.com",
        NOT_ONLINE: "bob@other.net",
        BUSY: VOICE_MAILBOX,
        NO_ANSWER: "+31612345678@example.com",
        UNAVAILABLE: "+31612345678@example.com",
    }


async def test_conditions_left_out_stay_as_they_are(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    await client.set_call_forwarding({ALWAYS: "sip:carol@example.net"})

    sent = simulator.counters.last("set_call_forwarding").params
    assert [key for key in ("FUNC", "FNOL", "FBUS", "FNOA", "FUNV") if key in sent] == ["FUNC"]
    forwarding = await client.get_call_forwarding()
    assert forwarding.targets == {
        ALWAYS: "carol@example.net",
        NOT_ONLINE: None,
        BUSY: VOICE_MAILBOX,
        NO_ANSWER: VOICE_MAILBOX,
        UNAVAILABLE: None,
    }


async def test_none_and_empty_clear_a_condition(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    await client.set_call_forwarding({BUSY: None, NO_ANSWER: ""})

    sent = simulator.counters.last("set_call_forwarding").params
    assert sent["FBUS"] == ""
    assert sent["FNOA"] == ""
    forwarding = await client.get_call_forwarding()
    assert all(target is None for target in forwarding.targets.values())


async def test_conditions_may_be_named_by_their_code(client: SipThorClient) -> None:
    await client.set_call_forwarding({"FUNV": "0201234567"})  # type: ignore[dict-item]

    forwarding = await client.get_call_forwarding()
    assert forwarding.target(UNAVAILABLE) == "0201234567@example.com"


async def test_forwarding_needs_a_condition(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await client.set_call_forwarding({})
    with pytest.raises(ValueError, match="FXYZ"):
        await client.set_call_forwarding({"FXYZ": "0612345678"})  # type: ignore[dict-item]

    assert simulator.counters.requests["set_call_forwarding"] == 0


async def test_clearing_the_last_condition_may_fail(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """Open question 6: an empty diversion set may be refused."""
    simulator.platform.behaviour = Behaviour(clear_all_forwarding_fails=True)

    with pytest.raises(SipThorApiError, match="Empty diversion set"):
        await client.set_call_forwarding({BUSY: None, NO_ANSWER: None})

    forwarding = await client.get_call_forwarding()
    assert forwarding.target(BUSY) == VOICE_MAILBOX


async def test_forwarding_messages_follow_the_account_language(
    make_client: ClientFactory,
) -> None:
    result = await make_client(CAROL).set_call_forwarding({BUSY: "0612345678"})

    assert result.message == "Doorschakelingen gewijzigd FBUS=sip:0612345678@example.net "


async def test_mobile_number_keyword_without_a_mobile_number(make_client: ClientFactory) -> None:
    """Bob has no mobile number: the keyword is stored as text.

    See docs/settings-api.md §5.17, step 1.
    """
    bob = make_client(BOB)

    await bob.set_call_forwarding({ALWAYS: MOBILE_NUMBER})

    forwarding = await bob.get_call_forwarding()
    assert forwarding.target(ALWAYS) == "<mobile-number>@example.com"


async def test_add_balance_tops_up_and_the_history_shows_it(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    result = await client.add_balance(1001, " 4829175530612847 ")

    assert result.success
    assert result.message == "Added balance succeeded"
    sent = simulator.counters.last("add_balance")
    # In the form body, never in the URL (access logs keep URLs).
    assert sent.method == "POST"
    assert "4829175530612847" not in sent.query_string
    assert (sent.params["id"], sent.params["number"]) == ("1001", "4829175530612847")
    prepaid = await client.get_prepaid()
    assert prepaid is not None
    assert prepaid.balance == pytest.approx(22.3456)
    history = await client.get_balance_history()
    assert history[0].value == pytest.approx(10.0)


async def test_add_balance_refused_with_the_servers_message(client: SipThorClient) -> None:
    await client.add_balance(1002, "7315902648170394")

    with pytest.raises(SipThorApiError, match="Prepaid card already used"):
        await client.add_balance(1002, "7315902648170394")


async def test_add_balance_masks_the_voucher_number_in_a_refusal(
    simulator: SettingsSimulator, client: SipThorClient
) -> None:
    """A fault text that repeats the number (a platform may) does not carry it further."""
    simulator.faults.backend_error = True
    simulator.faults.backend_message = "Error (SipPort): Card 5502718364950127 is blocked (1052): "

    with pytest.raises(SipThorApiError) as raised:
        await client.add_balance(1003, "5502718364950127")

    assert raised.value.message == "Error (SipPort): Card ******** is blocked (1052): "
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


VOUCHER = "4829175530612847"
LETTERED_VOUCHER = "Ab12Cd34Ef56Gh78"


def repeats(number: str, text: str) -> bool:
    """Whether ``text`` shows ``number`` in any form: any case, grouped by anything."""
    return number.lower() in re.sub(r"[\W_]", "", text).lower()


def shown_and_logged(err: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    """Everything a user or an administrator could read of a failed top-up."""
    texts = [caplog.text]
    error: BaseException | None = err
    while error is not None:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
        error = error.__cause__ or error.__context__
    return "\n".join(texts)


@pytest.mark.parametrize(
    ("number", "faults"),
    [
        # A proxy's or the platform's HTML page, without JSON, grouped in fours.
        (VOUCHER, Faults(body="<html><p>Voucher <b>4829 1755</b> 3061 2847 is blocked</p>")),
        # A credentials error text that quotes the request.
        (VOUCHER, Faults(body=f"Card {VOUCHER[:8]}-{VOUCHER[8:]}: X.509 Credentials error")),
        # The back end's fault, the number in upper case with dashes.
        (
            LETTERED_VOUCHER,
            Faults(
                backend_error=True,
                backend_message="Error (SipPort): Card AB12-CD34-EF56-GH78 is blocked (1052): ",
            ),
        ),
        # Full-width digits, as an HTML entity and across markup.
        (VOUCHER, Faults(body="<p>&#52;829 \uff11\uff17\uff15\uff15 <i>3061</i>.2847</p>")),
    ],
    ids=["html-page", "credentials-error", "backend-fault", "full-width"],
)
async def test_the_voucher_number_never_shows(
    simulator: SettingsSimulator,
    client: SipThorClient,
    caplog: pytest.LogCaptureFixture,
    number: str,
    faults: Faults,
) -> None:
    """Issue 17: on main only a fault text with the number exactly as sent was masked."""
    caplog.set_level(logging.DEBUG)
    simulator.faults = faults
    simulator.faults.actions = frozenset({"add_balance"})

    with pytest.raises(SipThorError) as raised:
        await client.add_balance(1003, number)

    assert "********" in str(raised.value)
    assert not repeats(number, shown_and_logged(raised.value, caplog))


async def test_a_warning_before_a_top_up_is_logged_without_the_number(
    simulator: SettingsSimulator, client: SipThorClient, caplog: pytest.LogCaptureFixture
) -> None:
    simulator.faults.html_warning = True
    simulator.faults.backend_message = f"Voucher {VOUCHER[:4]} {VOUCHER[4:]} checked slowly"
    simulator.faults.actions = frozenset({"add_balance"})

    assert (await client.add_balance(1001, VOUCHER)).success

    assert "Server warning with add_balance: Voucher ******** checked slowly" in caplog.text
    assert not repeats(VOUCHER, caplog.text)


@pytest.mark.parametrize(("voucher_id", "number"), [(0, "123"), (-1, "123"), (5, "  ")])
async def test_add_balance_refuses_what_is_not_a_voucher(
    simulator: SettingsSimulator, client: SipThorClient, voucher_id: int, number: str
) -> None:
    with pytest.raises(ValueError, match="positive id and a number"):
        await client.add_balance(voucher_id, number)

    assert simulator.counters.requests["add_balance"] == 0
