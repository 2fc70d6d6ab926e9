"""What a registration says about the phone behind it: maker, model, firmware, identity.

``get_devices`` names a phone only by its user agent and its contact (docs/settings-api.md
§5.5). The user agent of most SIP phones and softphones reads "maker, model, firmware",
each maker in a form of its own: a table of those forms turns it into the device page's
manufacturer, model and firmware. Whatever the table does not know keeps its text with the
version numbers taken out.

A phone must keep its device across a firmware update and a new DHCP lease, so it is
identified by what stays: the instance id of its contact (RFC 5626 ``+sip.instance``)
where the contact carries one, else its family (maker and model, without the firmware)
with the user part of its contact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
import hashlib
import re
from typing import Final

from .api import Registration


@dataclass(frozen=True, slots=True)
class PhoneModel:
    """A phone as its user agent describes it."""

    manufacturer: str | None
    model: str | None
    firmware: str | None

    @property
    def name(self) -> str:
        """What a person calls it: "Yealink T46U", "FRITZ!Box 7590", "Blink (Linux)"."""
        if self.model is None:
            return self.manufacturer or "SIP device"
        brand = self.brand
        if brand is None or self.model.casefold().startswith(brand.casefold()):
            return self.model
        return f"{brand} {self.model}"

    @property
    def brand(self) -> str | None:
        """The maker's name as it goes before the model; None where the model says it."""
        if self.manufacturer is None:
            return None
        return _BRANDS.get(self.manufacturer, self.manufacturer)

    @property
    def family(self) -> str:
        """Maker and model without the firmware: the same before and after an update."""
        return f"{self.manufacturer or ''}|{self.model or ''}".casefold()


@dataclass(frozen=True, slots=True)
class _Form:
    """One maker's way of writing its user agent.

    ``pattern`` has the groups ``version`` and, unless ``model`` is given, ``model``.
    ``model`` builds the model from the match where the text needs rewording.
    """

    pattern: re.Pattern[str]
    manufacturer: str
    model: Callable[[re.Match[str]], str] | None = None


def _form(
    pattern: str, manufacturer: str, model: Callable[[re.Match[str]], str] | None = None
) -> _Form:
    return _Form(re.compile(pattern, re.IGNORECASE), manufacturer, model)


def _polycom_model(match: re.Match[str]) -> str:
    """VVX_410 is the VVX 410; SPIP_331 the SoundPoint IP 331."""
    series, _, number = match.group("model").partition("_")
    return f"{_POLYCOM_SERIES.get(series.upper(), series)} {number}"


def _with_platform(product: str) -> Callable[[re.Match[str]], str]:
    """``product``, its edition if any, and the platform in parentheses if any."""

    def model(match: re.Match[str]) -> str:
        edition = match.group("edition")
        name = f"{product} {edition}" if edition else product
        platform = match.group("platform")
        return f"{name} ({platform})" if platform else name

    return model


_VERSION: Final = r"v?(?P<version>\d+(?:[._]\w+)+)"
_POLYCOM_SERIES: Final = {"SPIP": "SoundPoint IP", "SSIP": "SoundStation IP"}
# Makers whose products are known by the product's name alone ("Blink", not "AG Projects
# Blink").
_BRANDS: Final[dict[str, str | None]] = {
    "64 Characters": None,
    "AG Projects": None,
    "AVM": None,
    "Belledonne Communications": None,
    "CounterPath": None,
    "Securax": None,
    "Acrobits": None,
    "Sangoma": None,
}
# Real user agents, by maker; tests/integration/test_devices.py holds one of each.
_FORMS: Final[tuple[_Form, ...]] = (
    # Yealink SIP-T46U 108.86.0.45, Yealink SIP VP-T49G 51.80.0.125, Yealink W60B 77.85.0.25
    _form(rf"^Yealink[ _](?:SIP[- ])?(?P<model>[A-Z0-9][\w-]*)\s+{_VERSION}", "Yealink"),
    # Grandstream HT802 1.0.53.2, Grandstream GXP2170 1.0.11.16
    _form(rf"^Grandstream\s+(?P<model>[A-Z]+[\w-]*(?:\s+V\d)?)\s+{_VERSION}", "Grandstream"),
    # snom320/8.7.3.25.5, snomD785/10.1.46.16, snom870-SIP 8.7.3.19, snom PA1/8.4.35
    _form(rf"^snom\s*(?P<model>[A-Z]*\d+\w*?)(?:-SIP)?[/ ]{_VERSION}", "Snom"),
    # Cisco/SPA504G-7.6.2c, Cisco/SPA112-1.4.1(SR1), Linksys/SPA942-6.1.5(a)
    _form(
        r"^(?P<maker>Cisco|Linksys|Sipura)/(?P<model>[A-Z]+\d+\w*)-(?P<version>\d[\w.()]*)",
        "Cisco",
    ),
    # Cisco-CP8841-3PCC/11.3.1, Cisco-CP-7841-3PCC/11-0-1
    _form(r"^Cisco-(?P<model>CP-?\d+\w*)(?:-3PCC)?/(?P<version>\S+)", "Cisco"),
    # PolycomVVX-VVX_410-UA/5.9.5.0614, PolycomSoundPointIP-SPIP_331-UA/4.0.15.1009
    _form(
        r"^Polycom\w+?-(?P<model>[A-Z]+_\w+)-UA/(?P<version>[\d.]+)",
        "Polycom",
        _polycom_model,
    ),
    # Gigaset N510 IP PRO/42.245.00.000.000, Gigaset C430 IP/42.250.00.000.000
    _form(r"^Gigaset\s+(?P<model>[^/]+?)/(?P<version>\S+)", "Gigaset"),
    # AVM FRITZ!Box 7590 154.07.29 (Jan 26 2022), AVM FRITZ!Box Fon WLAN 7390 84.06.83
    _form(r"^AVM\s+(?P<model>FRITZ!.+?)\s+(?P<version>\d+\.\d+\.\d+)", "AVM"),
    # Blink 6.0.2 (Linux), Blink Pro 4.6.0 (MacOSX)
    _form(
        r"^Blink(?:\s+(?P<edition>Pro|Lite|Qt))?\s+(?P<version>\d+(?:\.\d+)+)"
        r"(?:\s+\((?P<platform>[^)]+)\))?",
        "AG Projects",
        _with_platform("Blink"),
    ),
    # Linphone/4.4.0 (belle-sip/4.4.0), LinphoneAndroid/4.6.14 (Pixel 6) LinphoneSDK/5.2.0,
    # Linphone Desktop/4.4.10 (Ubuntu 22.04.1 LTS, Qt 5.15.2) LinphoneCore/5.1.64
    _form(
        r"^Linphone\s?(?P<edition>Android|iOS|iPhone|Desktop)?(?:/(?P<version>[\d.]+)|$)",
        "Belledonne Communications",
        lambda match: " ".join(filter(None, ("Linphone", match.group("edition")))),
    ),
    # Z 5.6.1 v2.10.18.4 (Zoiper 5), Zoiper rv2.10.19.0, Zoiper v2.10.6.6
    _form(
        r"^Z\s+(?P<version>(?P<major>\d+)(?:\.\d+)+)\s+r?v[\d.]+",
        "Securax",
        lambda match: f"Zoiper {match.group('major')}",
    ),
    _form(r"^Zoiper\s+r?v(?P<version>[\d.]+)", "Securax", lambda _match: "Zoiper"),
    # Bria 5 release 5.9.1 stamp 104297, Bria iOS release 6.4.3 stamp 4432,
    # X-Lite release 5.8.3 stamp 102651, eyeBeam release 1102q stamp 51814
    _form(
        r"^(?P<model>Bria(?:\s+(?!release\b)\w+)*|X-Lite|eyeBeam)\s+release\s+(?P<version>\S+)",
        "CounterPath",
    ),
    # MicroSIP/3.21.3
    _form(r"^MicroSIP/(?P<version>[\d.]+)", "MicroSIP", lambda _match: "MicroSIP"),
    # OBIHAI/OBi202-3.2.2.5921
    _form(r"^OBIHAI/(?P<model>OBi\w+)-(?P<version>[\d.]+)", "Obihai"),
    # Aastra 6737i/3.3.1.4322, Mitel 6867i/5.1.0.2051
    _form(r"^(?P<maker>Aastra|Mitel)\s+(?P<model>\w+)/(?P<version>[\d.]+)", "Mitel"),
    # Panasonic_KX-UT123/01.133 (0080f0c6e1b7)
    _form(r"^Panasonic[_-](?P<model>KX-\w+)/(?P<version>[\w.]+)", "Panasonic"),
    # Fanvil X6U 2.8.20.1 0c383e0ba9f1
    _form(rf"^Fanvil\s+(?P<model>\w+)\s+{_VERSION}", "Fanvil"),
    # Htek UC926 2.0.4.4.41 001fc1123456
    _form(rf"^Htek\s+(?P<model>\w+)\s+{_VERSION}", "Htek"),
    # AUDC-IPPhone/2.2.12.172 (405HD-Rev1; 00908F5A1B2C)
    _form(r"^AUDC-IPPhone/(?P<version>[\d.]+)\s+\((?P<model>[\w]+?)(?:-Rev\d+)?[;)]", "AudioCodes"),
    # Akuvox R20A 220.30.1.99
    _form(rf"^Akuvox\s+(?P<model>\w+)\s+{_VERSION}", "Akuvox"),
    # Groundwire/6.2.3 (build 1234; iOS 15.1), Acrobits Softphone/7.0.1 (…)
    _form(
        r"^(?P<model>Groundwire|Acrobits Softphone|Cloud Softphone)/(?P<version>[\d.]+)",
        "Acrobits",
    ),
    # Asterisk PBX 18.11.2, FPBX-16.0.21(18.13.0)
    _form(r"^Asterisk PBX (?P<version>\S+)", "Sangoma", lambda _match: "Asterisk"),
    _form(r"^FPBX-(?P<version>[\d.]+)", "Sangoma", lambda _match: "FreePBX"),
    # baresip v2.0.2 (x86_64/linux)
    _form(r"^baresip v?(?P<version>[\d.]+)", "baresip", lambda _match: "baresip"),
    # Telephone 1.5.1
    _form(r"^Telephone (?P<version>\d+(?:\.\d+)+)$", "64 Characters", lambda _match: "Telephone"),
)
# The maker named in the text where one form stands for several (Linksys, Aastra, …).
_MAKERS: Final = {"linksys": "Linksys", "sipura": "Sipura", "aastra": "Aastra", "mitel": "Mitel"}
# A version anywhere in a user agent no form knows: 1.2, v2.10.18.4, 6.1.5(a), r1234.
_ANY_VERSION: Final = re.compile(r"[/\s-]+[rv]?\d+(?:[._]\w+)+(?:\([^)]*\))?|\s+\(build [^)]*\)")


# A poll reads each phone's user agent again: the few an account has are read once.
@lru_cache(maxsize=256)
def phone_model(user_agent: str) -> PhoneModel:
    """Maker, model and firmware of the phone whose user agent is ``user_agent``."""
    text = " ".join(user_agent.split())
    for form in _FORMS:
        if match := form.pattern.match(text):
            model = form.model(match) if form.model else match.group("model")
            maker = (match.groupdict().get("maker") or "").casefold()
            return PhoneModel(
                manufacturer=_MAKERS.get(maker, form.manufacturer),
                model=model.strip(),
                firmware=match.group("version") or None,
            )
    return _unknown(text)


def _unknown(text: str) -> PhoneModel:
    """A user agent no form knows: its text without version numbers, the first as firmware."""
    if not text:
        return PhoneModel(None, None, None)
    version = _ANY_VERSION.search(text)
    family = _ANY_VERSION.sub("", text).strip(" /-") or None
    firmware = version.group(0).strip(" /-()") if version else None
    if firmware and firmware[:1] in "rv" and firmware[1:2].isdigit():
        firmware = firmware[1:]
    return PhoneModel(None, family, firmware)


def _contact_parts(contact: str) -> tuple[str | None, str | None]:
    """The user part and the ``+sip.instance`` of a contact given as a SIP URI.

    ``get_devices`` documents ``address:port`` alone (docs/settings-api.md §5.5); a
    server that passes the registered Contact on gives ``<sip:user@host;…>`` with its
    parameters, and then both are read.
    """
    text = contact.strip()
    uri, _, header_parameters = text.removeprefix("<").partition(">")
    uri, _, uri_parameters = uri.partition(";")
    instance = None
    for parameter in f"{uri_parameters};{header_parameters}".split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.casefold() == "+sip.instance" and value:
            instance = value.strip().strip('"').strip("<>").casefold()
    scheme, colon, rest = uri.partition(":")
    user = None
    if colon and scheme.casefold() in ("sip", "sips") and "@" in rest:
        user = rest.rsplit("@", 1)[0]
    return user or None, instance or None


def registration_key(registration: Registration) -> str:
    """What identifies a phone from one registration to the next.

    Its contact's instance id, where there is one; else its family with the user part of
    its contact. Not the firmware (an update would make another device), not the
    address or port (a new DHCP lease, a NAT rebinding).
    """
    user, instance = _contact_parts(registration.contact)
    if instance:
        return f"instance|{instance}"
    return f"{phone_model(registration.user_agent).family}|{user or ''}"


def registration_id(registration: Registration) -> str:
    """The phone's id in device and entity identifiers: a hash of its key."""
    return hashlib.sha256(registration_key(registration).encode()).hexdigest()[:12]


def id_of_family(user_agent: str) -> str:
    """The id a phone known only by its user agent has (no instance id, no user part)."""
    return hashlib.sha256(f"{phone_model(user_agent).family}|".encode()).hexdigest()[:12]
