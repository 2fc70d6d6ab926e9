"""The live events of an account: its SIP channel (api/sip), as Home Assistant sees it.

The account owns one :class:`LiveEvents` beside its settings-page client when live
events are on (the default) and the SIP password is known: a password account's own, a
``.p12`` account's kept with consent, or a PEM account's from the options. It starts
once the entities exist and stops when the entry unloads or Home Assistant stops.

- **Its own failures.** The channel shares nothing with the settings page: a refused
  subscription, a lost connection or a wrong SIP password leaves the polled entities
  alone, and the page's outage leaves the live ones alone.
- **What the entities show.** Call state and Ringing follow the dialog subscription,
  Voicemail messages and Message waiting the message-summary one. Each is unavailable
  while its subscription is not active; a package the platform does not offer (489,
  403, 404) is logged once at info level by the channel, and the diagnostic sensor and
  the diagnostics say why.
- **Where the voicemail count is.** At the voicemail URI of the options when one is set.
  Otherwise at the account's own address; where that does not offer it, the live events
  follow the voicemail source (polled by the account, like any source an entity shows)
  and hand its mailbox's address (``get_voicemail``'s ``Account``) to the channel, which
  moves the subscription there, and again when the mailbox changes or goes.
- **A wrong SIP password** stops the channel (one refused SUBSCRIBE, no loop) and
  raises one repair issue; it goes away once a channel subscribes again.
- **Calls.** Received calls fire ``ringing``, ``answered`` and ``missed`` on the call
  event entity as they happen. When a call ends, the call list is read once, so that
  its sensors follow within seconds instead of at the next poll.
- **None twice.** A received call whose outcome the channel announced (answered or
  missed) is not announced again when it shows up in the call list: a listed received
  call is the channel's when the caller's user part matches (or either side does not
  name one) and it started between two minutes before the call rang and two minutes
  after it ended (the platform's clock and ours, and a call detail record that starts
  at the answer). Each announced call matches one listed call at most. A call the
  channel did not see, or lost track of, keeps its polled event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from homeassistant.const import CONF_PASSWORD, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.util import ssl as ssl_util
from homeassistant.util.hass_dict import HassKey

from .api import Call, CallDirection, strip_sip_scheme
from .api.sip import (
    CallEvent,
    CallEventKind,
    CallState,
    ChannelState,
    ChannelStatus,
    DnsResolver,
    EventPackage,
    LiveEvent,
    ManualServer,
    MessageSummary,
    MessageSummaryEvent,
    SipLiveChannel,
    StatusEvent,
    StatusReason,
    SubscriptionState,
    SubscriptionStatus,
    SubscriptionTarget,
)
from .const import (
    CONF_ACCOUNT,
    CONF_LIVE_EVENTS,
    CONF_SIP_PASSWORD,
    CONF_SIP_SERVER,
    CONF_VOICEMAIL_URI,
    DOMAIN,
    LOGGER,
)
from .repairs import async_delete_live_password_issue, async_live_password_refused

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from .api import Voicemail

# One resolver for every account: SRV answers and aiodns's channel are shared.
LIVE_RESOLVER: HassKey[DnsResolver] = HassKey(f"{DOMAIN}_live_resolver")
# The window around a live call in which a listed call is taken to be the same one.
MATCH_MARGIN: Final = timedelta(minutes=2)
# Calls the channel announced, kept to recognise them in the call list (read seconds
# after each call ends; a day's calls are far fewer).
MAX_ANNOUNCED: Final = 64
# The calls the event entity announces live: received ones (or of unknown direction).
_LIVE_DIRECTIONS: Final = frozenset({CallDirection.RECEIVED, None})

type CallListener = Callable[[CallEvent], None]


class VoicemailSource(Protocol):
    """What the live events read of the account's voicemail source (its coordinator)."""

    @property
    def fetched(self) -> bool:
        """Whether the source was read."""

    @property
    def data(self) -> Voicemail | None:
        """The mailbox; None when the account has none."""

    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Call ``update_callback`` after each read; returns its remover."""


def live_password(data: Mapping[str, Any]) -> str | None:
    """The SIP password an entry's data hold: its sign-in password, or the one kept."""
    password: str | None = data.get(CONF_PASSWORD) or data.get(CONF_SIP_PASSWORD)
    return password or None


def live_events_wanted(entry: ConfigEntry[Any]) -> bool:
    """Whether the entry's options want live events (on by default)."""
    return bool(entry.options.get(CONF_LIVE_EVENTS, True))


@dataclass(slots=True)
class _AnnouncedCall:
    """A received call whose outcome the channel announced."""

    user: str | None
    rang: datetime
    ended: datetime


def _user(uri: str | None) -> str | None:
    """The user part of a SIP URI or ``user@host``, in lower case; None if it has none."""
    if not uri:
        return None
    user, at, _host = strip_sip_scheme(uri).partition("@")
    return user.lower() if at and user else None


class LiveEvents:
    """The live channel of one entry; see the module's description."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        channel: SipLiveChannel,
        request_call_list: Callable[[], Coroutine[Any, Any, None]],
        voicemail: VoicemailSource | None = None,
    ) -> None:
        """Follow ``channel``; ``request_call_list`` reads the call list once soon.

        ``voicemail`` (the account's voicemail source) names the mailbox the count moves
        to where the account's address does not offer it.
        """
        self.hass = hass
        self.entry = entry
        self.channel = channel
        self._request_call_list = request_call_list
        self._voicemail = voicemail
        self._remove_voicemail_listener: CALLBACK_TYPE | None = None
        # A mailbox address the channel refused, warned about once.
        self._refused_mailbox: str | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        self._call_listeners: list[CallListener] = []
        self._remove_channel_listener: Callable[[], None] | None = None
        self._cancel_stop_listener: CALLBACK_TYPE | None = None
        # When each call the entity follows rang (by Call-ID), and the ones announced.
        self._rang: dict[str, datetime] = {}
        self._announced: deque[_AnnouncedCall] = deque(maxlen=MAX_ANNOUNCED)

    # -- lifecycle -------------------------------------------------------------------

    async def async_start(self) -> None:
        """Start the channel in the background; stop it when Home Assistant stops."""
        self._remove_channel_listener = self.channel.add_listener(self._on_event)
        self._cancel_stop_listener = self.hass.bus.async_listen_once(
            EVENT_HOMEASSISTANT_STOP, self._async_on_hass_stop
        )
        try:
            await self.channel.start()
        except Exception:  # noqa: BLE001 - the live channel never fails the entry
            LOGGER.warning("%s: the live events could not start", self.entry.title)

    async def _async_on_hass_stop(self, _event: Event) -> None:
        self._cancel_stop_listener = None
        await self.async_stop()

    async def async_stop(self) -> None:
        """Unsubscribe and disconnect (at most a couple of seconds)."""
        if self._cancel_stop_listener is not None:
            self._cancel_stop_listener()
            self._cancel_stop_listener = None
        await self.channel.stop()
        if self._remove_channel_listener is not None:
            self._remove_channel_listener()
            self._remove_channel_listener = None
        # After the channel's last status, which would follow the mailbox again.
        if self._remove_voicemail_listener is not None:
            self._remove_voicemail_listener()
            self._remove_voicemail_listener = None

    # -- what the entities read --------------------------------------------------------

    @property
    def status(self) -> ChannelStatus:
        """The connection and each subscription."""
        return self.channel.status

    @property
    def call_state(self) -> CallState:
        """Idle, ringing or in a call."""
        return self.channel.call_state

    @property
    def message_summary(self) -> MessageSummary | None:
        """The mailbox's counts; None until a NOTIFY brought them."""
        return self.channel.message_summary

    def active(self, package: EventPackage) -> bool:
        """Whether ``package``'s subscription is active: its entities show it."""
        status = self.channel.status.subscriptions.get(package)
        return status is not None and status.state is SubscriptionState.ACTIVE

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` after every change; returns its remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_add_call_listener(self, listener: CallListener) -> CALLBACK_TYPE:
        """Call ``listener`` with each event of a received call; returns its remover."""
        self._call_listeners.append(listener)
        return lambda: self._call_listeners.remove(listener)

    def announced(self, call: Call, started: datetime | None) -> bool:
        """Whether the channel announced this listed call, which ``started`` then.

        See the module's rule. A match is used up: the same live call never hides a
        second listed call.
        """
        if call.direction is not CallDirection.RECEIVED or started is None:
            return False
        user = _user(call.caller)
        for announced in self._announced:
            same_caller = user is None or announced.user is None or user == announced.user
            earliest, latest = announced.rang - MATCH_MARGIN, announced.ended + MATCH_MARGIN
            if same_caller and earliest <= started <= latest:
                self._announced.remove(announced)
                return True
        return False

    # -- what the channel says ---------------------------------------------------------

    @callback
    def _on_event(self, event: LiveEvent) -> None:
        if isinstance(event, StatusEvent):
            self._on_status(event.status)
        elif isinstance(event, CallEvent):
            self._on_call(event)
        elif isinstance(event, MessageSummaryEvent):
            pass  # the entities read the channel's summary
        for listener in list(self._listeners):
            listener()

    @callback
    def _on_status(self, status: ChannelStatus) -> None:
        # A package not offered is logged by the channel, once (at info level).
        if (summary := status.subscriptions.get(EventPackage.MESSAGE_SUMMARY)) is not None:
            self._follow_mailbox(summary)
        if any(
            subscription.state is SubscriptionState.ACTIVE
            for subscription in status.subscriptions.values()
        ):
            # The password works (again): a repair about it is over.
            async_delete_live_password_issue(self.hass, self.entry.entry_id)
        if status.state is ChannelState.AUTH_FAILED and status.reason is StatusReason.AUTH_FAILED:
            # The channel logged the refusal and stopped: one issue, no retry. (A sign-in
            # the client cannot do, AUTH_UNSUPPORTED, is no password to fix: the log and
            # the diagnostic sensor say it.)
            async_live_password_refused(self.hass, self.entry)

    @callback
    def _on_call(self, event: CallEvent) -> None:
        if event.kind is CallEventKind.ENDED:
            self._rang.pop(event.call_id, None)
            # The call list (last caller, today's counts) follows within seconds.
            self.entry.async_create_background_task(
                self.hass, self._request_call_list(), f"{self.entry.title}: calls after a call"
            )
            return
        if event.direction not in _LIVE_DIRECTIONS:
            return
        if event.kind is CallEventKind.RINGING:
            self._rang[event.call_id] = event.at
        else:
            rang = self._rang.get(event.call_id, event.at)
            self._announced.append(_AnnouncedCall(_user(event.remote.uri), rang, event.at))
            if event.kind is CallEventKind.MISSED:
                self._rang.pop(event.call_id, None)
        for listener in list(self._call_listeners):
            listener(event)

    @callback
    def _follow_mailbox(self, summary: SubscriptionStatus) -> None:
        """Follow the voicemail source once the count needs the mailbox's address.

        That is when the account's address does not offer it (or it is at the mailbox
        already, found before). Until then the live events ask the settings page nothing:
        the voicemail source is polled only while something shows or follows it.
        """
        if self._voicemail is None or self._remove_voicemail_listener is not None:
            return
        at_account_not_offered = (
            summary.target is SubscriptionTarget.ACCOUNT
            and summary.state is SubscriptionState.NOT_OFFERED
        )
        if not at_account_not_offered and summary.target is not SubscriptionTarget.MAILBOX:
            return
        self._remove_voicemail_listener = self._voicemail.async_add_listener(self._on_voicemail)
        self._on_voicemail()

    @callback
    def _on_voicemail(self) -> None:
        """The voicemail source was read: hand its mailbox's address to the channel."""
        source = self._voicemail
        if source is None or not source.fetched:
            return
        address = source.data.account if source.data is not None else None
        try:
            self.channel.set_mailbox(address)
        except ValueError:
            if address != self._refused_mailbox:
                LOGGER.warning(
                    "%s: the voice mailbox's address is no SIP address; the voicemail count "
                    "is not subscribed there",
                    self.entry.title,
                )
            self._refused_mailbox = address
            self.channel.set_mailbox(None)

    # -- diagnostics -------------------------------------------------------------------

    def diagnostics(self) -> dict[str, Any]:
        """The channel's snapshot: no password, no number (api/sip says what it holds)."""
        return self.channel.snapshot()


def async_create_live(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    request_call_list: Callable[[], Coroutine[Any, Any, None]],
    voicemail: VoicemailSource | None = None,
) -> LiveEvents | None:
    """The entry's live events; None when off, without a password, or not possible.

    The SIP server and voicemail URI options were checked by the options form; one
    stored otherwise (by hand) that does not parse is logged once and leaves the live
    events off.
    """
    password = live_password(entry.data)
    if not live_events_wanted(entry) or password is None:
        # Off, or the password was taken away: a repair asking for it is over.
        async_delete_live_password_issue(hass, entry.entry_id)
        return None
    server_text = entry.options.get(CONF_SIP_SERVER) or None
    try:
        server = ManualServer.parse(server_text) if server_text else None
        channel = SipLiveChannel(
            entry.data[CONF_ACCOUNT],
            password,
            # Home Assistant's shared client context: the system's CAs, loaded once.
            ssl_context=ssl_util.client_context(),
            server=server,
            voicemail_uri=entry.options.get(CONF_VOICEMAIL_URI) or None,
            resolver=hass.data.setdefault(LIVE_RESOLVER, DnsResolver()),
        )
    except ValueError as err:
        LOGGER.warning("%s: no live events (%s)", entry.title, err)
        return None
    return LiveEvents(hass, entry, channel, request_call_list, voicemail)
