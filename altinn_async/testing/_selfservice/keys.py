"""Client keys as the self-service API accepts them (``maskinporten-selfservice.md`` §4, §9.7):
a JWK set that replaces the client's, of at most five public RSA signing keys, each with
``kty``, ``alg`` (RS256/384/512), ``use: "sig"``, a ``kid`` of letters, digits and ``._-``
unique in the set, ``n`` and ``e`` of at least 2048 bits, and an ``exp`` of at most a year
(a year when omitted; posting a key again renews it)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .._maskinporten import ClientKey
from .errors import FieldError, invalid

MAX_KEYS = 5
ONE_YEAR = 365 * 24 * 3600
MIN_BITS = 2048
ALGORITHMS = ("RS256", "RS384", "RS512")
KID = re.compile(r"[A-Za-z0-9._-]+")
_REQUIRED = ("kty", "alg", "use", "kid", "n", "e")
_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "oth")
_OBJECT = "Jwks"


def _error(field: str, message: str) -> FieldError:
    return FieldError(field, message, _OBJECT)


def _b64url_int_bits(value: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big").bit_length() if raw else None


def parse_jwks(body: Any, now: float) -> dict[str, ClientKey]:
    """The keys of a posted JWK set, by ``kid``, in the order posted.

    Raises:
        ApiError: 400 with every problem found.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("keys"), list):
        raise invalid(now, [_error("keys", 'the body must be a JWK set: {"keys": [...]}')])
    entries: list[Any] = body["keys"]
    if not entries:
        raise invalid(
            now,
            [_error("keys", "keys must not be empty; remove every key with DELETE .../jwks")],
        )
    if len(entries) > MAX_KEYS:
        raise invalid(now, [_error("keys", f"at most {MAX_KEYS} keys, got {len(entries)}")])
    errors: list[FieldError] = []
    keys: dict[str, ClientKey] = {}
    for index, entry in enumerate(entries):
        where = f"keys[{index}]"
        if not isinstance(entry, Mapping):
            errors.append(_error(where, f"{where} must be a JWK object"))
            continue
        found = _parse_key(entry, where, now, errors)
        if found is None:
            continue
        if found.kid in keys:
            errors.append(_error(f"{where}.kid", f"kid {found.kid} is used twice in the set"))
            continue
        keys[found.kid] = found
    if errors:
        raise invalid(now, errors)
    return keys


def _parse_key(
    entry: Mapping[str, Any], where: str, now: float, errors: list[FieldError]
) -> ClientKey | None:
    before = len(errors)
    errors.extend(
        _error(f"{where}.{name}", f"{where}.{name} is required")
        for name in _REQUIRED
        if not isinstance(entry.get(name), str) or not entry[name]
    )
    if len(errors) > before:
        return None
    kid = str(entry["kid"])
    _check_members(entry, where, errors)
    exp = _expiry(entry.get("exp"), where, now, errors)
    x5c = entry.get("x5c")
    if x5c is not None and (
        not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c)
    ):
        errors.append(_error(f"{where}.x5c", "x5c must be an array of base64 certificates"))
    if len(errors) > before:
        return None
    try:
        key = RSAKey.import_key({name: entry[name] for name in _REQUIRED})
    except (JoseError, ValueError, TypeError):
        errors.append(_error(where, f"{where} is not a valid RSA public key"))
        return None
    jwk: dict[str, Any] = {
        "kid": kid,
        "alg": entry["alg"],
        "use": "sig",
        "n": entry["n"],
        "e": entry["e"],
        "kty": "RSA",
        "exp": exp,
    }
    if x5c is not None:
        jwk["x5c"] = list(x5c)
    return ClientKey(kid, key, jwk, float(exp))


def _check_members(entry: Mapping[str, Any], where: str, errors: list[FieldError]) -> None:
    """``kid``, ``kty``, ``alg``, ``use``, a public key only, and its size."""
    kid = str(entry["kid"])
    if not KID.fullmatch(kid):
        errors.append(
            _error(f"{where}.kid", f"kid {kid!r} may hold only letters, digits and . _ -")
        )
    if entry["kty"] != "RSA":
        errors.append(_error(f"{where}.kty", f"kty must be RSA, got {entry['kty']}"))
    if entry["alg"] not in ALGORITHMS:
        errors.append(
            _error(
                f"{where}.alg", f"alg must be one of {', '.join(ALGORITHMS)}, got {entry['alg']}"
            )
        )
    if entry["use"] != "sig":
        errors.append(_error(f"{where}.use", f'use must be "sig", got {entry["use"]}'))
    private = [name for name in _PRIVATE if name in entry]
    if private:
        errors.append(
            _error(
                where,
                f"{where} holds private key members ({', '.join(private)}): post the "
                "public key only",
            )
        )
    bits = _b64url_int_bits(str(entry["n"]))
    if bits is None:
        errors.append(_error(f"{where}.n", "n is not base64url"))
    elif bits < MIN_BITS:
        errors.append(_error(f"{where}.n", f"the RSA key has {bits} bits; at least {MIN_BITS}"))


def _expiry(value: Any, where: str, now: float, errors: list[FieldError]) -> int:
    """``exp`` in epoch seconds: a year from now when omitted; in the future and at most a year
    ahead (§9.7: above a year is refused, not clamped)."""
    latest = int(now) + ONE_YEAR
    if value is None:
        return latest
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append(_error(f"{where}.exp", "exp must be a number of seconds since the epoch"))
        return latest
    if value <= now:
        errors.append(_error(f"{where}.exp", f"exp {value} is not in the future"))
    elif value > latest:
        errors.append(
            _error(f"{where}.exp", f"exp {value} is more than one year ahead (at most {latest})")
        )
    return value
