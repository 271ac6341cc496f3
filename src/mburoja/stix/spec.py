"""The STIX 2.1 specification as data: object types, their properties, vocabularies, rules.

Nothing here runs a check; ``stix.validate`` reads these tables once at import time and
compiles a check plan per type. Section numbers refer to STIX 2.1 OS (2021-06-10).

Each type is a ``TypeSpec``: its category (``sdo``, ``sro``, ``sco``, ``meta``, or
``embedded``/``extension`` for sub-objects), every property it defines as a ``Prop`` (a
kind plus the kind's argument), the required properties, and the cross-property rules the
spec states (ordered timestamps, at-least-one, mutually exclusive, depends-on, and a few named
rules the validator implements by hand).

Reference targets: ``Prop.targets`` is the set of types a reference may name where the spec
restricts it; ``open_targets`` also lets it name any type the spec does not define (custom
objects may be SDOs or SCOs). ``None`` means unrestricted.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, NamedTuple

SPEC_VERSION: Final = "2.1"


def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``: vocabularies read like the spec's lists."""
    return frozenset(text.split())


class Prop(NamedTuple):
    """One property: ``kind`` and what that kind needs.

    Kinds: ``string``, ``strings`` (list), ``timestamp``, ``boolean``, ``integer``, ``float``,
    ``ref``, ``refs``, ``enum``/``enums`` (closed vocabulary, errors), ``vocab``/``vocabs``
    (open vocabulary, warnings), ``hashes``, ``dict``, ``hex``, ``binary``, ``lang``,
    ``object``/``objects`` (embedded type named by ``embedded``), ``kill_chain_phases``,
    ``external_references``, ``granular_markings``, ``extensions``, ``any``.
    """

    kind: str
    targets: frozenset[str] | None = None
    open_targets: bool = False
    vocab: str = ""
    minimum: float | None = None
    maximum: float | None = None
    embedded: str = ""


class TypeSpec(NamedTuple):
    """One STIX type (or embedded sub-object, or predefined extension) as the spec defines it."""

    name: str
    category: str
    props: Mapping[str, Prop]
    required: frozenset[str]
    #: (earlier, later, strict): ``later`` must be >= (or > when strict) ``earlier``.
    order: tuple[tuple[str, str, bool], ...] = ()
    #: each group: at least one of these properties must be present.
    at_least_one: tuple[tuple[str, ...], ...] = ()
    #: each group: at most one of these properties may be present.
    exclusive: tuple[tuple[str, ...], ...] = ()
    #: (property, needs): if ``property`` is present, every one of ``needs`` must be too.
    depends: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: named rules implemented in ``stix.validate`` (see ``_RULES`` there).
    rules: tuple[str, ...] = ()
    #: predefined extensions (SCOs, §6): extension name -> its spec.
    extensions: Mapping[str, TypeSpec] = MappingProxyType({})


# --------------------------------------------------------------------------- vocabularies

#: Open vocabularies (§10): a value outside them is a warning, never an error.
OPEN_VOCABULARIES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "account-type-ov": _words(
            "facebook ldap nis openid radius skype tacacs twitter unix windows-local windows-domain"
        ),
        "attack-motivation-ov": _words(
            "accidental coercion dominance ideology notoriety organizational-gain personal-gain "
            "personal-satisfaction revenge unpredictable"
        ),
        "attack-resource-level-ov": _words("individual club contest team organization government"),
        "grouping-context-ov": _words("suspicious-activity malware-analysis unspecified"),
        "hash-algorithm-ov": _words("MD5 SHA-1 SHA-256 SHA-512 SHA3-256 SHA3-512 SSDEEP TLSH"),
        "identity-class-ov": _words("individual group system organization class unknown"),
        "implementation-language-ov": _words(
            "applescript bash c c++ c# go java javascript lua objective-c perl php powershell "
            "python ruby scala swift typescript visual-basic x86-32 x86-64"
        ),
        "indicator-type-ov": _words(
            "anomalous-activity anonymization benign compromised malicious-activity attribution "
            "unknown"
        ),
        "industry-sector-ov": _words(
            "agriculture aerospace automotive chemical commercial communications construction "
            "defense education energy entertainment financial-services government "
            "emergency-services government-local government-national government-public-services "
            "government-regional healthcare hospitality-leisure infrastructure dams nuclear water "
            "insurance manufacturing mining non-profit pharmaceuticals retail technology "
            "telecommunications transportation utilities"
        ),
        "infrastructure-type-ov": _words(
            "amplification anonymization botnet command-and-control control-system exfiltration "
            "firewall hosting-malware hosting-target-lists phishing reconnaissance "
            "routers-switches staging workstation unknown"
        ),
        "malware-capabilities-ov": _words(
            "accesses-remote-machines anti-debugging anti-disassembly anti-emulation "
            "anti-memory-forensics anti-sandbox anti-vm captures-input-peripherals "
            "captures-output-peripherals captures-system-state-data cleans-traces-of-infection "
            "commits-fraud communicates-with-c2 compromises-data-availability "
            "compromises-data-integrity compromises-system-availability controls-local-machine "
            "degrades-security-software degrades-system-updates determines-c2-server emails-spam "
            "escalates-privileges evades-av exfiltrates-data fingerprints-host hides-artifacts "
            "hides-executing-code infects-files infects-remote-machines "
            "installs-other-components persists-after-system-reboot prevents-artifact-access "
            "prevents-artifact-deletion probes-network-environment self-modifies "
            "steals-authentication-credentials violates-system-operational-integrity"
        ),
        "malware-result-ov": _words("malicious suspicious benign unknown"),
        "malware-type-ov": _words(
            "adware backdoor bot bootkit ddos downloader dropper exploit-kit keylogger ransomware "
            "remote-access-trojan resource-exploitation rogue-security-software rootkit "
            "screen-capture spyware trojan unknown virus webshell wiper worm"
        ),
        "marking-definition-type-ov": frozenset({"statement", "tlp"}),
        "pattern-type-ov": _words("stix pcre sigma snort suricata yara"),
        "processor-architecture-ov": _words("alpha arm ia-64 mips powerpc sparc x86 x86-64"),
        "region-ov": _words(
            "africa eastern-africa middle-africa northern-africa southern-africa western-africa "
            "americas latin-america-caribbean south-america caribbean central-america "
            "northern-america asia central-asia eastern-asia southern-asia south-eastern-asia "
            "western-asia europe eastern-europe northern-europe southern-europe western-europe "
            "oceania antarctica australia-new-zealand melanesia micronesia polynesia"
        ),
        "report-type-ov": _words(
            "attack-pattern campaign identity indicator intrusion-set malware observed-data "
            "threat-actor threat-report tool vulnerability"
        ),
        "threat-actor-role-ov": _words(
            "agent director independent infrastructure-architect infrastructure-operator "
            "malware-author sponsor"
        ),
        "threat-actor-sophistication-ov": _words(
            "none minimal intermediate advanced expert innovator strategic"
        ),
        "threat-actor-type-ov": _words(
            "activist competitor crime-syndicate criminal hacker insider-accidental "
            "insider-disgruntled nation-state sensationalist spy terrorist unknown"
        ),
        "tool-type-ov": _words(
            "denial-of-service exploitation information-gathering network-capture "
            "credential-exploitation remote-access vulnerability-scanning unknown"
        ),
        "windows-pebinary-type-ov": frozenset({"dll", "exe", "sys"}),
    }
)

#: Closed enumerations (§10): a value outside them is an error.
ENUMERATIONS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "encryption-algorithm-enum": frozenset(
            {"AES-256-GCM", "ChaCha20-Poly1305", "mime-type-indicated"}
        ),
        "extension-type-enum": frozenset(
            {"new-sdo", "new-sco", "new-sro", "property-extension", "toplevel-property-extension"}
        ),
        "network-socket-address-family-enum": _words(
            "AF_UNSPEC AF_INET AF_IPX AF_APPLETALK AF_NETBIOS AF_INET6 AF_IRDA AF_BTH"
        ),
        "network-socket-type-enum": _words(
            "SOCK_STREAM SOCK_DGRAM SOCK_RAW SOCK_RDM SOCK_SEQPACKET"
        ),
        "opinion-enum": frozenset(
            {"strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"}
        ),
        "windows-integrity-level-enum": frozenset({"low", "medium", "high", "system"}),
        "windows-registry-datatype-enum": _words(
            "REG_NONE REG_SZ REG_EXPAND_SZ REG_BINARY REG_DWORD REG_DWORD_BIG_ENDIAN "
            "REG_DWORD_LITTLE_ENDIAN REG_LINK REG_MULTI_SZ REG_RESOURCE_LIST "
            "REG_FULL_RESOURCE_DESCRIPTION REG_RESOURCE_REQUIREMENTS_LIST REG_QWORD "
            "REG_INVALID_TYPE"
        ),
        "windows-service-start-type-enum": _words(
            "SERVICE_AUTO_START SERVICE_BOOT_START SERVICE_DEMAND_START SERVICE_DISABLED "
            "SERVICE_SYSTEM_ALERT"
        ),
        "windows-service-status-enum": _words(
            "SERVICE_CONTINUE_PENDING SERVICE_PAUSE_PENDING SERVICE_PAUSED SERVICE_RUNNING "
            "SERVICE_START_PENDING SERVICE_STOP_PENDING SERVICE_STOPPED"
        ),
        "windows-service-type-enum": _words(
            "SERVICE_KERNEL_DRIVER SERVICE_FILE_SYSTEM_DRIVER SERVICE_WIN32_OWN_PROCESS "
            "SERVICE_WIN32_SHARE_PROCESS"
        ),
    }
)

#: Hex length of the hash algorithms whose value shape is fixed (§10.4 names them).
HASH_HEX_LENGTHS: Final[Mapping[str, int]] = MappingProxyType(
    {"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-512": 128, "SHA3-256": 64, "SHA3-512": 128}
)

TLP_VALUES: Final = frozenset({"white", "green", "amber", "red"})

# --------------------------------------------------------------------------- type names

SDO_TYPES: Final = _words(
    "attack-pattern campaign course-of-action grouping identity incident indicator "
    "infrastructure intrusion-set location malware malware-analysis note observed-data opinion "
    "report threat-actor tool vulnerability"
)
SRO_TYPES: Final = frozenset({"relationship", "sighting"})
SCO_TYPES: Final = _words(
    "artifact autonomous-system directory domain-name email-addr email-message file ipv4-addr "
    "ipv6-addr mac-addr mutex network-traffic process software url user-account "
    "windows-registry-key x509-certificate"
)
META_TYPES: Final = frozenset({"marking-definition", "extension-definition", "language-content"})
#: Every type the spec defines, ``bundle`` included.
KNOWN_TYPES: Final = SDO_TYPES | SRO_TYPES | SCO_TYPES | META_TYPES | {"bundle"}

# --------------------------------------------------------------------------- property helpers

_STRING: Final = Prop("string")
_STRINGS: Final = Prop("strings")
_TIMESTAMP: Final = Prop("timestamp")
_BOOLEAN: Final = Prop("boolean")
_INTEGER: Final = Prop("integer")
_COUNT: Final = Prop("integer", minimum=0)
_FLOAT: Final = Prop("float")
_HEX: Final = Prop("hex")
_DICT: Final = Prop("dict")
_HASHES: Final = Prop("hashes")
_KILL_CHAIN: Final = Prop("kill_chain_phases")
_ANY_REFS: Final = Prop("refs")
_ANY_REF: Final = Prop("ref")


def _ref(*targets: str) -> Prop:
    return Prop("ref", frozenset(targets))


def _refs(*targets: str) -> Prop:
    return Prop("refs", frozenset(targets))


def _vocab(name: str) -> Prop:
    return Prop("vocab", vocab=name)


def _vocabs(name: str) -> Prop:
    return Prop("vocabs", vocab=name)


def _enum(name: str) -> Prop:
    return Prop("enum", vocab=name)


def _range(kind: str, low: float | None, high: float | None) -> Prop:
    return Prop(kind, minimum=low, maximum=high)


def _frozen(props: Mapping[str, Prop]) -> Mapping[str, Prop]:
    return MappingProxyType(dict(props))


# --------------------------------------------------------------------------- common properties

_SDO_SRO_COMMON: Final[dict[str, Prop]] = {
    "type": _STRING,
    "spec_version": _STRING,
    "id": _STRING,
    "created_by_ref": _ref("identity"),
    "created": _TIMESTAMP,
    "modified": _TIMESTAMP,
    "revoked": _BOOLEAN,
    "labels": _STRINGS,
    "confidence": _range("integer", 0, 100),
    "lang": Prop("lang"),
    "external_references": Prop("external_references"),
    "object_marking_refs": _refs("marking-definition"),
    "granular_markings": Prop("granular_markings"),
    "extensions": Prop("extensions"),
}
_SCO_COMMON: Final[dict[str, Prop]] = {
    "type": _STRING,
    "spec_version": _STRING,
    "id": _STRING,
    "object_marking_refs": _refs("marking-definition"),
    "granular_markings": Prop("granular_markings"),
    "defanged": _BOOLEAN,
    "extensions": Prop("extensions"),
}
_SDO_SRO_REQUIRED: Final = frozenset({"type", "spec_version", "id", "created", "modified"})
_SCO_REQUIRED: Final = frozenset({"type", "id"})

#: The common properties of every category together: what a custom object is checked against.
ALL_COMMON_PROPERTIES: Final[Mapping[str, Prop]] = MappingProxyType(
    {**_SCO_COMMON, **_SDO_SRO_COMMON}
)
#: Property names the validator handles before the property walk.
CORE_PROPERTIES: Final = frozenset({"type", "id", "spec_version"})

_CREATED_MODIFIED: Final = ("created", "modified", False)


_Order = tuple[tuple[str, str, bool], ...]
_Groups = tuple[tuple[str, ...], ...]
_Depends = tuple[tuple[str, tuple[str, ...]], ...]


def _sdo(
    name: str,
    props: Mapping[str, Prop],
    required: tuple[str, ...] = (),
    *,
    category: str = "sdo",
    order: _Order = (),
    at_least_one: _Groups = (),
    exclusive: _Groups = (),
    depends: _Depends = (),
    rules: tuple[str, ...] = (),
) -> TypeSpec:
    """An SDO or SRO: the SDO/SRO common properties plus ``props``."""
    return TypeSpec(
        name,
        category,
        _frozen({**_SDO_SRO_COMMON, **props}),
        _SDO_SRO_REQUIRED | frozenset(required),
        order=(_CREATED_MODIFIED, *order),
        at_least_one=at_least_one,
        exclusive=exclusive,
        depends=depends,
        rules=rules,
    )


def _sco(
    name: str,
    props: Mapping[str, Prop],
    required: tuple[str, ...] = (),
    *,
    extensions: Mapping[str, TypeSpec] | None = None,
    order: _Order = (),
    at_least_one: _Groups = (),
    exclusive: _Groups = (),
    depends: _Depends = (),
    rules: tuple[str, ...] = (),
) -> TypeSpec:
    """An SCO: the SCO common properties plus ``props`` and its predefined extensions."""
    return TypeSpec(
        name,
        "sco",
        _frozen({**_SCO_COMMON, **props}),
        _SCO_REQUIRED | frozenset(required),
        order=order,
        at_least_one=at_least_one,
        exclusive=exclusive,
        depends=depends,
        rules=rules,
        extensions=MappingProxyType(dict(extensions or {})),
    )


def _sub(
    name: str,
    props: Mapping[str, Prop],
    required: tuple[str, ...] = (),
    *,
    category: str = "embedded",
    at_least_one: _Groups = (),
) -> TypeSpec:
    """An embedded sub-object type or a predefined extension: only its own properties."""
    return TypeSpec(name, category, _frozen(props), frozenset(required), at_least_one=at_least_one)


_SEEN: Final = (("first_seen", "last_seen", False),)

# ------------------------------------------------------------ embedded types (§5, §6)

EMBEDDED: Final[Mapping[str, TypeSpec]] = MappingProxyType(
    {
        "email-mime-part-type": _sub(
            "email-mime-part-type",
            {
                "body": _STRING,
                "body_raw_ref": _ref("artifact", "file"),
                "content_type": _STRING,
                "content_disposition": _STRING,
            },
            at_least_one=(("body", "body_raw_ref"),),
        ),
        "windows-registry-value-type": _sub(
            "windows-registry-value-type",
            {
                "name": _STRING,
                "data": _STRING,
                "data_type": _enum("windows-registry-datatype-enum"),
            },
        ),
        "alternate-data-stream-type": _sub(
            "alternate-data-stream-type",
            {"name": _STRING, "hashes": _HASHES, "size": _COUNT},
            ("name",),
        ),
        "windows-pe-optional-header-type": _sub(
            "windows-pe-optional-header-type",
            {
                **dict.fromkeys(
                    _words(
                        "magic_hex win32_version_value_hex checksum_hex subsystem_hex "
                        "dll_characteristics_hex loader_flags_hex"
                    ),
                    _HEX,
                ),
                **dict.fromkeys(
                    _words(
                        "major_linker_version minor_linker_version address_of_entry_point "
                        "base_of_code base_of_data image_base section_alignment file_alignment "
                        "major_os_version minor_os_version major_image_version "
                        "minor_image_version major_subsystem_version minor_subsystem_version "
                        "number_of_rva_and_sizes"
                    ),
                    _INTEGER,
                ),
                **dict.fromkeys(
                    _words(
                        "size_of_code size_of_initialized_data size_of_uninitialized_data "
                        "size_of_image size_of_headers size_of_stack_reserve "
                        "size_of_stack_commit size_of_heap_reserve size_of_heap_commit"
                    ),
                    _COUNT,
                ),
                "hashes": _HASHES,
            },
        ),
        "windows-pe-section-type": _sub(
            "windows-pe-section-type",
            {"name": _STRING, "size": _COUNT, "entropy": _FLOAT, "hashes": _HASHES},
            ("name",),
        ),
        "x509-v3-extensions-type": _sub(
            "x509-v3-extensions-type",
            {
                **dict.fromkeys(
                    _words(
                        "basic_constraints name_constraints policy_constraints key_usage "
                        "extended_key_usage subject_key_identifier authority_key_identifier "
                        "subject_alternative_name issuer_alternative_name "
                        "subject_directory_attributes crl_distribution_points "
                        "inhibit_any_policy certificate_policies policy_mappings"
                    ),
                    _STRING,
                ),
                "private_key_usage_period_not_before": _TIMESTAMP,
                "private_key_usage_period_not_after": _TIMESTAMP,
            },
        ),
    }
)

# ------------------------------------------------------------ predefined extensions (§6)

_FILE_EXTENSIONS: Final = {
    "archive-ext": _sub(
        "archive-ext",
        {"contains_refs": _refs("file", "directory"), "comment": _STRING},
        ("contains_refs",),
        category="extension",
    ),
    "ntfs-ext": _sub(
        "ntfs-ext",
        {
            "sid": _STRING,
            "alternate_data_streams": Prop("objects", embedded="alternate-data-stream-type"),
        },
        category="extension",
    ),
    "pdf-ext": _sub(
        "pdf-ext",
        {
            "version": _STRING,
            "is_optimized": _BOOLEAN,
            "document_info_dict": _DICT,
            "pdfid0": _STRING,
            "pdfid1": _STRING,
        },
        category="extension",
    ),
    "raster-image-ext": _sub(
        "raster-image-ext",
        {
            "image_height": _COUNT,
            "image_width": _COUNT,
            "bits_per_pixel": _COUNT,
            "exif_tags": _DICT,
        },
        category="extension",
    ),
    "windows-pebinary-ext": _sub(
        "windows-pebinary-ext",
        {
            "pe_type": _vocab("windows-pebinary-type-ov"),
            "imphash": _STRING,
            "machine_hex": _HEX,
            "number_of_sections": _COUNT,
            "time_date_stamp": _TIMESTAMP,
            "pointer_to_symbol_table_hex": _HEX,
            "number_of_symbols": _COUNT,
            "size_of_optional_header": _COUNT,
            "characteristics_hex": _HEX,
            "file_header_hashes": _HASHES,
            "optional_header": Prop("object", embedded="windows-pe-optional-header-type"),
            "sections": Prop("objects", embedded="windows-pe-section-type"),
        },
        ("pe_type",),
        category="extension",
    ),
}

_NETWORK_TRAFFIC_EXTENSIONS: Final = {
    "http-request-ext": _sub(
        "http-request-ext",
        {
            "request_method": _STRING,
            "request_value": _STRING,
            "request_version": _STRING,
            "request_header": _DICT,
            "message_body_length": _COUNT,
            "message_body_data_ref": _ref("artifact"),
        },
        ("request_method", "request_value"),
        category="extension",
    ),
    "icmp-ext": _sub(
        "icmp-ext",
        {"icmp_type_hex": _HEX, "icmp_code_hex": _HEX},
        ("icmp_type_hex", "icmp_code_hex"),
        category="extension",
    ),
    "socket-ext": _sub(
        "socket-ext",
        {
            "address_family": _enum("network-socket-address-family-enum"),
            "is_blocking": _BOOLEAN,
            "is_listening": _BOOLEAN,
            "options": _DICT,
            "socket_type": _enum("network-socket-type-enum"),
            "socket_descriptor": _COUNT,
            "socket_handle": _INTEGER,
        },
        ("address_family",),
        category="extension",
    ),
    "tcp-ext": _sub(
        "tcp-ext", {"src_flags_hex": _HEX, "dst_flags_hex": _HEX}, category="extension"
    ),
}

_PROCESS_EXTENSIONS: Final = {
    "windows-process-ext": _sub(
        "windows-process-ext",
        {
            "aslr_enabled": _BOOLEAN,
            "dep_enabled": _BOOLEAN,
            "priority": _STRING,
            "owner_sid": _STRING,
            "window_title": _STRING,
            "startup_info": _DICT,
            "integrity_level": _enum("windows-integrity-level-enum"),
        },
        category="extension",
    ),
    "windows-service-ext": _sub(
        "windows-service-ext",
        {
            "service_name": _STRING,
            "descriptions": _STRINGS,
            "display_name": _STRING,
            "group_name": _STRING,
            "start_type": _enum("windows-service-start-type-enum"),
            "service_dll_refs": _refs("file"),
            "service_type": _enum("windows-service-type-enum"),
            "service_status": _enum("windows-service-status-enum"),
        },
        category="extension",
    ),
}

_USER_ACCOUNT_EXTENSIONS: Final = {
    "unix-account-ext": _sub(
        "unix-account-ext",
        {"gid": _INTEGER, "groups": _STRINGS, "home_dir": _STRING, "shell": _STRING},
        category="extension",
    ),
}

# --------------------------------------------------------------------------- reference targets

_SDO_OR_SCO: Final = Prop("ref", SDO_TYPES | SCO_TYPES, open_targets=True)
_ANY_SCO_REFS: Final = Prop("refs", SCO_TYPES, open_targets=True)

# --------------------------------------------------------------------------- SDOs (§4)

_SDOS: Final = (
    _sdo(
        "attack-pattern",
        {
            "name": _STRING,
            "description": _STRING,
            "aliases": _STRINGS,
            "kill_chain_phases": _KILL_CHAIN,
        },
        ("name",),
    ),
    _sdo(
        "campaign",
        {
            "name": _STRING,
            "description": _STRING,
            "aliases": _STRINGS,
            "first_seen": _TIMESTAMP,
            "last_seen": _TIMESTAMP,
            "objective": _STRING,
        },
        ("name",),
        order=_SEEN,
    ),
    _sdo("course-of-action", {"name": _STRING, "description": _STRING}, ("name",)),
    _sdo(
        "grouping",
        {
            "name": _STRING,
            "description": _STRING,
            "context": _vocab("grouping-context-ov"),
            "object_refs": _ANY_REFS,
        },
        ("context", "object_refs"),
    ),
    _sdo(
        "identity",
        {
            "name": _STRING,
            "description": _STRING,
            "roles": _STRINGS,
            "identity_class": _vocab("identity-class-ov"),
            "sectors": _vocabs("industry-sector-ov"),
            "contact_information": _STRING,
        },
        ("name",),
    ),
    _sdo(
        "incident",
        {"name": _STRING, "description": _STRING, "kill_chain_phases": _KILL_CHAIN},
        ("name",),
    ),
    _sdo(
        "indicator",
        {
            "name": _STRING,
            "description": _STRING,
            "indicator_types": _vocabs("indicator-type-ov"),
            "pattern": _STRING,
            "pattern_type": _vocab("pattern-type-ov"),
            "pattern_version": _STRING,
            "valid_from": _TIMESTAMP,
            "valid_until": _TIMESTAMP,
            "kill_chain_phases": _KILL_CHAIN,
        },
        ("pattern", "pattern_type", "valid_from"),
        order=(("valid_from", "valid_until", True),),
        rules=("indicator-pattern",),
    ),
    _sdo(
        "infrastructure",
        {
            "name": _STRING,
            "description": _STRING,
            "infrastructure_types": _vocabs("infrastructure-type-ov"),
            "aliases": _STRINGS,
            "kill_chain_phases": _KILL_CHAIN,
            "first_seen": _TIMESTAMP,
            "last_seen": _TIMESTAMP,
        },
        ("name",),
        order=_SEEN,
    ),
    _sdo(
        "intrusion-set",
        {
            "name": _STRING,
            "description": _STRING,
            "aliases": _STRINGS,
            "first_seen": _TIMESTAMP,
            "last_seen": _TIMESTAMP,
            "goals": _STRINGS,
            "resource_level": _vocab("attack-resource-level-ov"),
            "primary_motivation": _vocab("attack-motivation-ov"),
            "secondary_motivations": _vocabs("attack-motivation-ov"),
        },
        ("name",),
        order=_SEEN,
    ),
    _sdo(
        "location",
        {
            "name": _STRING,
            "description": _STRING,
            "latitude": _range("float", -90.0, 90.0),
            "longitude": _range("float", -180.0, 180.0),
            "precision": _range("float", 0.0, None),
            "region": _vocab("region-ov"),
            "country": _STRING,
            "administrative_area": _STRING,
            "city": _STRING,
            "street_address": _STRING,
            "postal_code": _STRING,
        },
        depends=(
            ("latitude", ("longitude",)),
            ("longitude", ("latitude",)),
            ("precision", ("latitude", "longitude")),
        ),
        rules=("location-place",),
    ),
    _sdo(
        "malware",
        {
            "name": _STRING,
            "description": _STRING,
            "malware_types": _vocabs("malware-type-ov"),
            "is_family": _BOOLEAN,
            "aliases": _STRINGS,
            "kill_chain_phases": _KILL_CHAIN,
            "first_seen": _TIMESTAMP,
            "last_seen": _TIMESTAMP,
            "operating_system_refs": _refs("software"),
            "architecture_execution_envs": _vocabs("processor-architecture-ov"),
            "implementation_languages": _vocabs("implementation-language-ov"),
            "capabilities": _vocabs("malware-capabilities-ov"),
            "sample_refs": _refs("artifact", "file"),
        },
        ("is_family",),
        order=_SEEN,
        rules=("malware-family-name",),
    ),
    _sdo(
        "malware-analysis",
        {
            "product": _STRING,
            "version": _STRING,
            "host_vm_ref": _ref("software"),
            "operating_system_ref": _ref("software"),
            "installed_software_refs": _refs("software"),
            "configuration_version": _STRING,
            "modules": _STRINGS,
            "analysis_engine_version": _STRING,
            "analysis_definition_version": _STRING,
            "submitted": _TIMESTAMP,
            "analysis_started": _TIMESTAMP,
            "analysis_ended": _TIMESTAMP,
            "result_name": _STRING,
            "result": _vocab("malware-result-ov"),
            "analysis_sco_refs": _ANY_SCO_REFS,
            "sample_ref": _ref("file", "network-traffic", "artifact"),
        },
        ("product",),
        at_least_one=(("result", "analysis_sco_refs"),),
    ),
    _sdo(
        "note",
        {
            "abstract": _STRING,
            "content": _STRING,
            "authors": _STRINGS,
            "object_refs": _ANY_REFS,
        },
        ("content", "object_refs"),
    ),
    _sdo(
        "observed-data",
        {
            "first_observed": _TIMESTAMP,
            "last_observed": _TIMESTAMP,
            "number_observed": _range("integer", 1, 999_999_999),
            "objects": _DICT,
            "object_refs": Prop("refs", SCO_TYPES | {"relationship"}, open_targets=True),
        },
        ("first_observed", "last_observed", "number_observed"),
        order=(("first_observed", "last_observed", False),),
        at_least_one=(("objects", "object_refs"),),
        exclusive=(("objects", "object_refs"),),
    ),
    _sdo(
        "opinion",
        {
            "explanation": _STRING,
            "authors": _STRINGS,
            "opinion": _enum("opinion-enum"),
            "object_refs": _ANY_REFS,
        },
        ("opinion", "object_refs"),
    ),
    _sdo(
        "report",
        {
            "name": _STRING,
            "description": _STRING,
            "report_types": _vocabs("report-type-ov"),
            "published": _TIMESTAMP,
            "object_refs": _ANY_REFS,
        },
        ("name", "published", "object_refs"),
    ),
    _sdo(
        "threat-actor",
        {
            "name": _STRING,
            "description": _STRING,
            "threat_actor_types": _vocabs("threat-actor-type-ov"),
            "aliases": _STRINGS,
            "first_seen": _TIMESTAMP,
            "last_seen": _TIMESTAMP,
            "roles": _vocabs("threat-actor-role-ov"),
            "goals": _STRINGS,
            "sophistication": _vocab("threat-actor-sophistication-ov"),
            "resource_level": _vocab("attack-resource-level-ov"),
            "primary_motivation": _vocab("attack-motivation-ov"),
            "secondary_motivations": _vocabs("attack-motivation-ov"),
            "personal_motivations": _vocabs("attack-motivation-ov"),
        },
        ("name",),
        order=_SEEN,
    ),
    _sdo(
        "tool",
        {
            "name": _STRING,
            "description": _STRING,
            "tool_types": _vocabs("tool-type-ov"),
            "aliases": _STRINGS,
            "kill_chain_phases": _KILL_CHAIN,
            "tool_version": _STRING,
        },
        ("name",),
    ),
    _sdo("vulnerability", {"name": _STRING, "description": _STRING}, ("name",)),
)

# --------------------------------------------------------------------------- SROs (§5)

_SROS: Final = (
    _sdo(
        "relationship",
        {
            "relationship_type": _STRING,
            "description": _STRING,
            "source_ref": _SDO_OR_SCO,
            "target_ref": _SDO_OR_SCO,
            "start_time": _TIMESTAMP,
            "stop_time": _TIMESTAMP,
        },
        ("relationship_type", "source_ref", "target_ref"),
        category="sro",
        order=(("start_time", "stop_time", True),),
    ),
    _sdo(
        "sighting",
        {
            "description": _STRING,
            "first_seen": _TIMESTAMP,
            "last_seen": _TIMESTAMP,
            "count": _range("integer", 0, 999_999_999),
            "sighting_of_ref": Prop("ref", SDO_TYPES, open_targets=True),
            "observed_data_refs": _refs("observed-data"),
            "where_sighted_refs": _refs("identity", "location"),
            "summary": _BOOLEAN,
        },
        ("sighting_of_ref",),
        category="sro",
        order=_SEEN,
    ),
)

# --------------------------------------------------------------------------- SCOs (§6)

_IP_PROPS: Final = {
    "value": _STRING,
    "resolves_to_refs": _refs("mac-addr"),
    "belongs_to_refs": _refs("autonomous-system"),
}
_X509_PROPS: Final = {
    "is_self_signed": _BOOLEAN,
    "hashes": _HASHES,
    "version": _STRING,
    "serial_number": _STRING,
    "signature_algorithm": _STRING,
    "issuer": _STRING,
    "validity_not_before": _TIMESTAMP,
    "validity_not_after": _TIMESTAMP,
    "subject": _STRING,
    "subject_public_key_algorithm": _STRING,
    "subject_public_key_modulus": _STRING,
    "subject_public_key_exponent": _INTEGER,
    "x509_v3_extensions": Prop("object", embedded="x509-v3-extensions-type"),
}
_PROCESS_PROPS: Final = {
    "is_hidden": _BOOLEAN,
    "pid": _INTEGER,
    "created_time": _TIMESTAMP,
    "cwd": _STRING,
    "command_line": _STRING,
    "environment_variables": _DICT,
    "opened_connection_refs": _refs("network-traffic"),
    "creator_user_ref": _ref("user-account"),
    "image_ref": _ref("file"),
    "parent_ref": _ref("process"),
    "child_refs": _refs("process"),
}
_NETWORK_ENDPOINT: Final = _ref("ipv4-addr", "ipv6-addr", "mac-addr", "domain-name")

_SCOS: Final = (
    _sco(
        "artifact",
        {
            "mime_type": _STRING,
            "payload_bin": Prop("binary"),
            "url": _STRING,
            "hashes": _HASHES,
            "encryption_algorithm": _enum("encryption-algorithm-enum"),
            "decryption_key": _STRING,
        },
        at_least_one=(("payload_bin", "url"),),
        exclusive=(("payload_bin", "url"),),
        depends=(("url", ("hashes",)),),
    ),
    _sco(
        "autonomous-system",
        {"number": _INTEGER, "name": _STRING, "rir": _STRING},
        ("number",),
    ),
    _sco(
        "directory",
        {
            "path": _STRING,
            "path_enc": _STRING,
            "ctime": _TIMESTAMP,
            "mtime": _TIMESTAMP,
            "atime": _TIMESTAMP,
            "contains_refs": _refs("file", "directory"),
        },
        ("path",),
    ),
    _sco(
        "domain-name",
        {"value": _STRING, "resolves_to_refs": _refs("ipv4-addr", "ipv6-addr", "domain-name")},
        ("value",),
    ),
    _sco(
        "email-addr",
        {"value": _STRING, "display_name": _STRING, "belongs_to_ref": _ref("user-account")},
        ("value",),
    ),
    _sco(
        "email-message",
        {
            "is_multipart": _BOOLEAN,
            "date": _TIMESTAMP,
            "content_type": _STRING,
            "from_ref": _ref("email-addr"),
            "sender_ref": _ref("email-addr"),
            "to_refs": _refs("email-addr"),
            "cc_refs": _refs("email-addr"),
            "bcc_refs": _refs("email-addr"),
            "message_id": _STRING,
            "subject": _STRING,
            "received_lines": _STRINGS,
            "additional_header_fields": _DICT,
            "body": _STRING,
            "body_multipart": Prop("objects", embedded="email-mime-part-type"),
            "raw_email_ref": _ref("artifact"),
        },
        ("is_multipart",),
        rules=("email-multipart",),
    ),
    _sco(
        "file",
        {
            "hashes": _HASHES,
            "size": _COUNT,
            "name": _STRING,
            "name_enc": _STRING,
            "magic_number_hex": _HEX,
            "mime_type": _STRING,
            "ctime": _TIMESTAMP,
            "mtime": _TIMESTAMP,
            "atime": _TIMESTAMP,
            "parent_directory_ref": _ref("directory"),
            "contains_refs": _ANY_SCO_REFS,
            "content_ref": _ref("artifact"),
        },
        extensions=_FILE_EXTENSIONS,
        at_least_one=(("hashes", "name"),),
    ),
    _sco("ipv4-addr", _IP_PROPS, ("value",)),
    _sco("ipv6-addr", _IP_PROPS, ("value",)),
    _sco("mac-addr", {"value": _STRING}, ("value",)),
    _sco("mutex", {"name": _STRING}, ("name",)),
    _sco(
        "network-traffic",
        {
            "start": _TIMESTAMP,
            "end": _TIMESTAMP,
            "is_active": _BOOLEAN,
            "src_ref": _NETWORK_ENDPOINT,
            "dst_ref": _NETWORK_ENDPOINT,
            "src_port": _range("integer", 0, 65535),
            "dst_port": _range("integer", 0, 65535),
            "protocols": _STRINGS,
            "src_byte_count": _COUNT,
            "dst_byte_count": _COUNT,
            "src_packets": _COUNT,
            "dst_packets": _COUNT,
            "ipfix": _DICT,
            "src_payload_ref": _ref("artifact"),
            "dst_payload_ref": _ref("artifact"),
            "encapsulates_refs": _refs("network-traffic"),
            "encapsulated_by_ref": _ref("network-traffic"),
        },
        ("protocols",),
        extensions=_NETWORK_TRAFFIC_EXTENSIONS,
        order=(("start", "end", False),),
        at_least_one=(("src_ref", "dst_ref"),),
        rules=("network-traffic-active",),
    ),
    _sco(
        "process",
        _PROCESS_PROPS,
        extensions=_PROCESS_EXTENSIONS,
        at_least_one=((*_PROCESS_PROPS, "extensions"),),
    ),
    _sco(
        "software",
        {
            "name": _STRING,
            "cpe": _STRING,
            "swid": _STRING,
            "languages": _STRINGS,
            "vendor": _STRING,
            "version": _STRING,
        },
        ("name",),
    ),
    _sco("url", {"value": _STRING}, ("value",)),
    _sco(
        "user-account",
        {
            "user_id": _STRING,
            "credential": _STRING,
            "account_login": _STRING,
            "account_type": _vocab("account-type-ov"),
            "display_name": _STRING,
            "is_service_account": _BOOLEAN,
            "is_privileged": _BOOLEAN,
            "can_escalate_privs": _BOOLEAN,
            "is_disabled": _BOOLEAN,
            "account_created": _TIMESTAMP,
            "account_expires": _TIMESTAMP,
            "credential_last_changed": _TIMESTAMP,
            "account_first_login": _TIMESTAMP,
            "account_last_login": _TIMESTAMP,
        },
        extensions=_USER_ACCOUNT_EXTENSIONS,
    ),
    _sco(
        "windows-registry-key",
        {
            "key": _STRING,
            "values": Prop("objects", embedded="windows-registry-value-type"),
            "modified_time": _TIMESTAMP,
            "creator_user_ref": _ref("user-account"),
            "number_of_subkeys": _COUNT,
        },
    ),
    _sco(
        "x509-certificate",
        _X509_PROPS,
        at_least_one=(tuple(_X509_PROPS),),
        order=(("validity_not_before", "validity_not_after", False),),
    ),
)

# --------------------------------------------------------------------------- meta objects (§7)

_META: Final = (
    TypeSpec(
        "marking-definition",
        "meta",
        _frozen(
            {
                "type": _STRING,
                "spec_version": _STRING,
                "id": _STRING,
                "created_by_ref": _ref("identity"),
                "created": _TIMESTAMP,
                "external_references": Prop("external_references"),
                "object_marking_refs": _refs("marking-definition"),
                "granular_markings": Prop("granular_markings"),
                "extensions": Prop("extensions"),
                "name": _STRING,
                "definition_type": _vocab("marking-definition-type-ov"),
                "definition": _DICT,
            }
        ),
        frozenset({"type", "spec_version", "id", "created"}),
        rules=("marking-definition-body",),
    ),
    TypeSpec(
        "language-content",
        "meta",
        _frozen(
            {
                **{k: v for k, v in _SDO_SRO_COMMON.items() if k != "lang"},
                "object_ref": _ANY_REF,
                "object_modified": _TIMESTAMP,
                "contents": _DICT,
            }
        ),
        _SDO_SRO_REQUIRED | {"object_ref", "contents"},
        order=(_CREATED_MODIFIED,),
    ),
    TypeSpec(
        "extension-definition",
        "meta",
        _frozen(
            {
                **{
                    k: v
                    for k, v in _SDO_SRO_COMMON.items()
                    if k not in ("confidence", "lang", "extensions")
                },
                "name": _STRING,
                "description": _STRING,
                "schema": _STRING,
                "version": _STRING,
                "extension_types": Prop("enums", vocab="extension-type-enum"),
                "extension_properties": _STRINGS,
            }
        ),
        _SDO_SRO_REQUIRED | {"created_by_ref", "name", "schema", "version", "extension_types"},
        order=(_CREATED_MODIFIED,),
    ),
)

#: Every object type the spec defines (``bundle`` is not an object and is not here).
TYPES: Final[Mapping[str, TypeSpec]] = MappingProxyType(
    {spec.name: spec for spec in (*_SDOS, *_SROS, *_SCOS, *_META)}
)

#: Common properties any object may carry: used to say "not defined for this type".
COMMON_PROPERTY_NAMES: Final = frozenset(ALL_COMMON_PROPERTIES)


def category(type_name: str) -> str | None:
    """``sdo``, ``sro``, ``sco`` or ``meta`` for a spec-defined type; None for anything else."""
    spec = TYPES.get(type_name)
    return spec.category if spec else None
