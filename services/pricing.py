"""What a VM size costs per hour, and where that figure came from.

`PriceBook.lookup(size, region, low_priority=…)` answers from, in order:
1. the disk cache (a JSON file under the data dir), while its entry is younger than `max_age` (7 days);
2. the Azure Retail Prices API (no auth): one query per size and region,
   `GET https://prices.azure.com/api/retail/prices?api-version=2023-01-01-preview&$filter=serviceName eq
   'Virtual Machines' and armRegionName eq '<region>' and armSkuName eq '<size>' and priceType eq 'Consumption'`,
   following `NextPageLink`; the answer is cached (including "no such meter");
3. a stale cache entry, when the API cannot be reached (better than a guess);
4. the shipped fallback table (`pricing_fallback.json`: approximate list prices of common ML sizes in
   eastus and westeurope);
5. otherwise None: the price is unknown.
Each `Price` carries `source` and a `label` in words ("Azure Retail Prices API, fetched 2026-01-05 09:00 UTC",
"Azure Retail Prices API, cached 3 h ago", "fallback table (approximate)", "configured rate"). After a failed
call the API is left alone for `retry_after` (15 min), so a sweep over many sizes does not wait on each.

Which meter: among the items for the size and region with unitOfMeasure "1 Hour" and type "Consumption",
the Linux one (productName without "Windows"); on-demand for dedicated compute (skuName/meterName without
"Spot" or "Low Priority"); for low-priority clusters the "Low Priority" meter, else the "Spot" one, else the
on-demand price, saying so. Ties go to the primary meter region, then the latest effectiveStartDate.

Sizes: Azure returns them in any casing ("STANDARD_NC6S_V3") while the API's filter values are case-sensitive
(from 2023-01-01-preview on), so `canonical_sku` restores Azure's spelling ("Standard_NC6s_v3").

HTTP goes through an injectable `fetch(url) -> parsed JSON` (default: urllib with a 5 s timeout), so tests never
touch the network.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from services.durations import format_duration
from services.store.clock import Clock, as_utc, utc_now

log = logging.getLogger(__name__)

API_HOST = "prices.azure.com"
API_URL = f"https://{API_HOST}/api/retail/prices"
API_VERSION = "2023-01-01-preview"
CACHE_FILENAME = "retail-prices.json"
FALLBACK_FILE = Path(__file__).with_name("pricing_fallback.json")
DEFAULT_MAX_AGE = timedelta(days=7)
MAX_PAGES = 20  # a size+region query is one or two pages; more means the filter went wrong

Fetch = Callable[[str], Any]


class PriceSource(StrEnum):
    API = "api"  # fetched from the Retail Prices API during this lookup
    CACHE = "cache"  # fetched from the API earlier (the disk cache)
    FALLBACK = "fallback"  # the shipped table of approximate prices
    CONFIGURED = "configured"  # the local backend's configured hourly rate


@dataclass(frozen=True)
class Price:
    """The hourly price of one VM (one node) and where it came from."""

    per_hour: float
    currency: str
    source: PriceSource
    label: str
    meter: str | None = None

    @classmethod
    def configured(cls, rate: float, currency: str = "USD") -> Price:
        return cls(float(rate), currency, PriceSource.CONFIGURED, "configured rate")


class PriceLookupError(Exception):
    """The Retail Prices API could not be reached or answered something unexpected."""


class UrllibFetch:
    """GET a URL and parse its JSON body, with a short timeout (the default `fetch`)."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout

    def __call__(self, url: str) -> Any:
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.hostname != API_HOST:
            raise PriceLookupError(f"refusing to follow a link away from the Retail Prices API: {url}")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (fixed https host)
                return json.loads(response.read())
        except (OSError, ValueError) as err:
            raise PriceLookupError(f"{type(err).__name__}: {err}") from err


# ------------------------------------------------------------------------------------------------ the API


def canonical_region(region: str) -> str:
    """armRegionName spelling: 'East US' / 'EastUS' → 'eastus'."""
    return region.replace(" ", "").lower()


def _known_sizes() -> dict[str, str]:
    try:
        table = json.loads(FALLBACK_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return {size.lower(): size for sizes in table.get("regions", {}).values() for size in sizes}


_KNOWN_SIZES = _known_sizes()
_HEAD = re.compile(r"([A-Z]+)(\d+)([A-Z-]*)")


def canonical_sku(size: str) -> str:
    """Azure's spelling of a VM size, as the API's case-sensitive filter needs it: 'STANDARD_NC6S_V3' →
    'Standard_NC6s_v3'. Mixed-case input is trusted as it is."""
    size = size.strip()
    known = _KNOWN_SIZES.get(size.lower())
    if known:
        return known
    if size != size.upper():
        return size
    parts = size.split("_")
    if parts[0] == "STANDARD":
        parts = parts[1:]
    if not parts or not parts[0]:
        return size
    head = _HEAD.fullmatch(parts[0])
    first = f"{head.group(1)}{head.group(2)}{head.group(3).lower()}" if head else parts[0]
    rest = [p.lower() if re.fullmatch(r"V\d+", p) else ("Promo" if p == "PROMO" else p) for p in parts[1:]]
    return "_".join(["Standard", first, *rest])


def query_url(sku: str, region: str) -> str:
    """The first page of every Consumption VM meter of `sku` in `region` (Linux, Windows, spot, low priority)."""
    odata = (
        f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' "
        f"and armSkuName eq '{sku}' and priceType eq 'Consumption'"
    )
    return f"{API_URL}?api-version={API_VERSION}&$filter={quote(odata, safe='')}"


def fetch_items(fetch: Fetch, url: str, *, max_pages: int = MAX_PAGES) -> list[dict[str, Any]]:
    """Every item of a query, following NextPageLink; PriceLookupError on anything unexpected."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    next_url: str | None = url
    while next_url:
        if next_url in seen or len(seen) >= max_pages:
            raise PriceLookupError(f"the Retail Prices API kept paging after {len(seen)} pages")
        seen.add(next_url)
        try:
            page = fetch(next_url)
        except PriceLookupError:
            raise
        except Exception as err:  # an injected fetch may raise anything: the API is then unavailable
            raise PriceLookupError(f"{type(err).__name__}: {err}") from err
        if not isinstance(page, Mapping) or not isinstance(page.get("Items"), list):
            raise PriceLookupError("the Retail Prices API answered without an Items list")
        items.extend(dict(item) for item in page["Items"] if isinstance(item, Mapping))
        link = page.get("NextPageLink")
        next_url = str(link) if link else None
    return items


def _is_low_priority(item: Mapping[str, Any]) -> bool:
    return any("low priority" in str(item.get(f) or "").lower() for f in ("skuName", "meterName"))


def _is_spot(item: Mapping[str, Any]) -> bool:
    return any("spot" in str(item.get(f) or "").lower() for f in ("skuName", "meterName"))


def _linux_hourly(items: Sequence[Mapping[str, Any]], sku: str, region: str) -> list[Mapping[str, Any]]:
    found = []
    for item in items:
        try:
            price = float(item.get("retailPrice"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if (
            str(item.get("armSkuName") or "").lower() == sku.lower()
            and canonical_region(str(item.get("armRegionName") or "")) == region
            and item.get("unitOfMeasure") == "1 Hour"
            and item.get("type") == "Consumption"
            and "windows" not in str(item.get("productName") or "").lower()
            and price > 0
        ):
            found.append(item)
    return found


def _best(items: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The primary meter region first, then the newest effectiveStartDate (ISO text sorts by time)."""
    ranked = sorted(
        items,
        key=lambda i: (i.get("isPrimaryMeterRegion") is not False, str(i.get("effectiveStartDate") or "")),
        reverse=True,
    )
    return ranked[0] if ranked else None


def pick_meter(
    items: Sequence[Mapping[str, Any]], *, sku: str, region: str, low_priority: bool = False
) -> Mapping[str, Any] | None:
    """The Linux meter for `sku` in `region`: on-demand, or (low_priority) Low Priority, else Spot."""
    linux = _linux_hourly(items, sku, canonical_region(region))
    if not low_priority:
        return _best([i for i in linux if not _is_low_priority(i) and not _is_spot(i)])
    return _best([i for i in linux if _is_low_priority(i)]) or _best([i for i in linux if _is_spot(i)])


def _meter_entry(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {
        "price": float(item["retailPrice"]),
        "currency": str(item.get("currencyCode") or "USD"),
        "meter": str(item.get("meterName") or item.get("skuName") or ""),
        "product": str(item.get("productName") or ""),
    }


# ------------------------------------------------------------------------------------------------ the book


def _age(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{int(seconds // 86400)} days"
    return format_duration(max(60.0, seconds))


class PriceBook:
    """Hourly VM prices: disk cache → Retail Prices API → stale cache → fallback table. Thread-safe."""

    def __init__(
        self,
        cache_path: Path | str | None,
        *,
        fetch: Fetch | None = None,
        clock: Clock = utc_now,
        max_age: timedelta = DEFAULT_MAX_AGE,
        retry_after: timedelta = timedelta(minutes=15),
        fallback_path: Path | str | None = FALLBACK_FILE,
    ) -> None:
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.fetch: Fetch = fetch or UrllibFetch()
        self.clock = clock
        self.max_age = max_age
        self.retry_after = retry_after
        self._fallback = self._load_fallback(fallback_path)
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = self._load_cache()
        self._api_down_until: datetime | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path | str, **kwargs: Any) -> PriceBook:
        """A book whose cache lives in `<data_dir>/retail-prices.json`."""
        return cls(Path(data_dir) / CACHE_FILENAME, **kwargs)

    def lookup(self, size: str, region: str, *, low_priority: bool = False) -> Price | None:
        """The price of one VM of `size` in `region` per hour, or None when no source knows it."""
        if not size or not region:
            return None
        sku, region = canonical_sku(size), canonical_region(region)
        key = f"{region}|{sku.lower()}"
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            fetched = None
            if entry is None or self._stale(entry, now):
                fetched = self._refresh(key, sku, region, now)
            if fetched is not None:
                return self._from_entry(fetched, low_priority, now, just_fetched=True) or self._from_fallback(
                    sku, region, low_priority
                )
        if entry is not None:
            return self._from_entry(entry, low_priority, now, just_fetched=False, stale=self._stale(entry, now)) or (
                self._from_fallback(sku, region, low_priority)
            )
        return self._from_fallback(sku, region, low_priority)

    # ---------------------------------------------------------------- sources

    def _refresh(self, key: str, sku: str, region: str, now: datetime) -> dict[str, Any] | None:
        """Ask the API (unless it failed recently); the new cache entry, or None when it cannot answer."""
        if self._api_down_until is not None and now < self._api_down_until:
            return None
        try:
            items = fetch_items(self.fetch, query_url(sku, region))
        except PriceLookupError as err:
            self._api_down_until = now + self.retry_after
            log.warning("Retail Prices API unavailable for %s in %s: %s", sku, region, err)
            return None
        self._api_down_until = None
        entry = {
            "sku": sku,
            "region": region,
            "fetched_at": now.isoformat(),
            "dedicated": _meter_entry(pick_meter(items, sku=sku, region=region)),
            "low_priority": _meter_entry(pick_meter(items, sku=sku, region=region, low_priority=True)),
        }
        self._entries[key] = entry
        self._save_cache()
        return entry

    def _stale(self, entry: Mapping[str, Any], now: datetime) -> bool:
        fetched_at = self._fetched_at(entry)
        return fetched_at is None or now - fetched_at >= self.max_age

    @staticmethod
    def _fetched_at(entry: Mapping[str, Any]) -> datetime | None:
        try:
            return as_utc(datetime.fromisoformat(str(entry["fetched_at"])))
        except (KeyError, ValueError):
            return None

    def _from_entry(
        self, entry: Mapping[str, Any], low_priority: bool, now: datetime, *, just_fetched: bool, stale: bool = False
    ) -> Price | None:
        meter = entry.get("low_priority") if low_priority else entry.get("dedicated")
        note = ""
        if low_priority and not meter:
            meter, note = entry.get("dedicated"), " (on-demand price: no low-priority meter found)"
        if not isinstance(meter, Mapping):
            return None
        fetched_at = self._fetched_at(entry) or now
        if just_fetched:
            source, label = PriceSource.API, f"Azure Retail Prices API, fetched {fetched_at:%Y-%m-%d %H:%M} UTC"
        else:
            source = PriceSource.CACHE
            label = f"Azure Retail Prices API, cached {_age((now - fetched_at).total_seconds())} ago"
            if stale:
                label += " (the API could not be reached to refresh it)"
        currency = str(meter.get("currency") or "USD")
        return Price(float(meter["price"]), currency, source, label + note, meter.get("meter"))

    def _from_fallback(self, sku: str, region: str, low_priority: bool) -> Price | None:
        rate = self._fallback.get(region, {}).get(sku.lower())
        if rate is None:
            return None
        label = "fallback table (approximate)"
        if low_priority:
            label += ", on-demand price: low priority costs less"
        return Price(rate, "USD", PriceSource.FALLBACK, label)

    # ---------------------------------------------------------------- files

    @staticmethod
    def _load_fallback(path: Path | str | None) -> dict[str, dict[str, float]]:
        if path is None:
            return {}
        try:
            table = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:
            log.warning("cannot read the fallback price table %s: %s", path, err)
            return {}
        return {
            canonical_region(region): {size.lower(): float(rate) for size, rate in sizes.items()}
            for region, sizes in (table.get("regions") or {}).items()
        }

    def _load_cache(self) -> dict[str, dict[str, Any]]:
        if self.cache_path is None or not self.cache_path.is_file():
            return {}
        try:
            data = json.loads(self.cache_path.read_text())
        except (OSError, ValueError) as err:
            log.warning("ignoring the unreadable price cache %s: %s", self.cache_path, err)
            return {}
        entries = data.get("entries") if isinstance(data, Mapping) else None
        return {str(k): dict(v) for k, v in (entries or {}).items() if isinstance(v, Mapping)}

    def _save_cache(self) -> None:
        """Write the cache atomically (a reader never sees half a file); a failure only costs a re-fetch."""
        if self.cache_path is None:
            return
        try:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".retail-prices-", dir=self.cache_path.parent)
            with os.fdopen(fd, "w") as out:
                json.dump({"version": 1, "entries": self._entries}, out, indent=1, sort_keys=True)
            os.replace(tmp, self.cache_path)
        except OSError as err:
            log.warning("cannot write the price cache %s: %s", self.cache_path, err)
