"""Prices from recorded Azure Retail Prices pages: the Linux on-demand meter, low priority, the disk cache, the
fallback table, and where every figure says it came from. No network: `fetch` is a fake over the recordings."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from services.pricing import (
    PriceBook,
    PriceLookupError,
    PriceSource,
    UrllibFetch,
    canonical_sku,
    query_url,
)
from tests.services.store.store_fakes import FakeClock

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "retail_prices"


def recorded(name: str) -> dict[str, Any]:
    page: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return page


class RecordedApi:
    """`fetch` over the recorded pages: the first page by its query, later ones by their NextPageLink."""

    def __init__(self) -> None:
        nc_first = recorded("nc6s_v3_eastus_page1.json")
        self.pages: dict[str, Mapping[str, Any]] = {
            query_url("Standard_NC6s_v3", "eastus"): nc_first,
            nc_first["NextPageLink"]: recorded("nc6s_v3_eastus_page2.json"),
            query_url("Standard_D4s_v3", "westeurope"): recorded("d4s_v3_westeurope.json"),
        }
        self.calls: list[str] = []
        self.failure: Exception | None = None

    def __call__(self, url: str) -> Any:
        self.calls.append(url)
        if self.failure is not None:
            raise self.failure
        if url not in self.pages:  # the API answers an unknown size with an empty page
            return {"BillingCurrency": "USD", "Items": [], "NextPageLink": None, "Count": 0}
        return self.pages[url]


@pytest.fixture
def api() -> RecordedApi:
    return RecordedApi()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_book(tmp_path: Path, api: RecordedApi, clock: FakeClock) -> Callable[..., PriceBook]:
    """A PriceBook on one cache file; each call is a new one, as after a restart."""

    def make(**kwargs: Any) -> PriceBook:
        return PriceBook.in_data_dir(tmp_path / "data", fetch=kwargs.pop("fetch", api), clock=clock, **kwargs)

    return make


def test_linux_on_demand_meter_is_chosen_across_both_pages(
    make_book: Callable[..., PriceBook], api: RecordedApi
) -> None:
    price = make_book().lookup("Standard_NC6s_v3", "eastus")
    assert price is not None
    # not Windows (3.428), not Low Priority (0.612), not Spot (0.3672), not the non-primary meter (3.366)
    assert (price.per_hour, price.currency, price.meter) == (3.06, "USD", "NC6s v3")
    assert price.source is PriceSource.API
    assert price.label == "Azure Retail Prices API, fetched 2026-01-05 09:00 UTC"
    first, second = api.calls
    assert "armSkuName eq 'Standard_NC6s_v3'" in unquote(first) and "armRegionName eq 'eastus'" in unquote(first)
    assert "priceType eq 'Consumption'" in unquote(first) and "api-version=2023-01-01-preview" in first
    assert second.endswith("&$skip=4")  # the recorded NextPageLink, followed as given


def test_low_priority_cluster_uses_the_linux_low_priority_meter(
    make_book: Callable[..., PriceBook], api: RecordedApi
) -> None:
    book = make_book()
    low = book.lookup("Standard_NC6s_v3", "eastus", low_priority=True)
    assert low is not None and (low.per_hour, low.meter) == (0.612, "NC6s v3 Low Priority")
    dedicated = book.lookup("Standard_NC6s_v3", "eastus")
    assert dedicated is not None and dedicated.per_hour == 3.06
    assert len(api.calls) == 2  # one query (two pages) priced both tiers


def test_low_priority_takes_the_spot_meter_when_there_is_no_low_priority_one(
    make_book: Callable[..., PriceBook],
) -> None:
    book = make_book()
    low = book.lookup("Standard_D4s_v3", "westeurope", low_priority=True)
    assert low is not None and (low.per_hour, low.meter) == (0.0406, "D4s v3 Spot")
    dedicated = book.lookup("Standard_D4s_v3", "westeurope")
    assert dedicated is not None and dedicated.per_hour == 0.23  # Linux, not the Windows 0.414


def test_sizes_and_regions_as_azure_reports_them_are_queried_in_the_apis_spelling(
    make_book: Callable[..., PriceBook], api: RecordedApi
) -> None:
    price = make_book().lookup("STANDARD_NC6S_V3", "East US")
    assert price is not None and price.per_hour == 3.06
    assert api.calls[0] == query_url("Standard_NC6s_v3", "eastus")
    assert canonical_sku("STANDARD_NC40ADS_H100_V5") == "Standard_NC40ads_H100_v5"
    assert canonical_sku("STANDARD_E16DS_V5") == "Standard_E16ds_v5"
    assert canonical_sku("standard_ds3_v2") == "Standard_DS3_v2"  # a size of the fallback table


def test_cache_is_used_while_fresh_and_refreshed_once_stale(
    make_book: Callable[..., PriceBook], api: RecordedApi, clock: FakeClock
) -> None:
    make_book().lookup("Standard_NC6s_v3", "eastus")
    clock.advance(timedelta(days=3).total_seconds())
    restarted = make_book()
    cached = restarted.lookup("Standard_NC6s_v3", "eastus")
    assert cached is not None and cached.per_hour == 3.06
    assert (cached.source, cached.label) == (PriceSource.CACHE, "Azure Retail Prices API, cached 3 days ago")
    assert len(api.calls) == 2  # the restart read the disk cache instead of asking again

    clock.advance(timedelta(days=5).total_seconds())  # 8 days old: past the 7-day default
    refreshed = restarted.lookup("Standard_NC6s_v3", "eastus")
    assert refreshed is not None and refreshed.source is PriceSource.API
    assert refreshed.label == "Azure Retail Prices API, fetched 2026-01-13 09:00 UTC"
    assert len(api.calls) == 4


def test_a_stale_cache_beats_the_fallback_when_the_api_fails(
    make_book: Callable[..., PriceBook], api: RecordedApi, clock: FakeClock
) -> None:
    make_book().lookup("Standard_D4s_v3", "westeurope")
    clock.advance(timedelta(days=10).total_seconds())
    api.failure = OSError("Network is unreachable")
    price = make_book().lookup("Standard_D4s_v3", "westeurope")
    assert price is not None
    assert (price.per_hour, price.source) == (0.23, PriceSource.CACHE)  # the fallback table says 0.22
    assert price.label == "Azure Retail Prices API, cached 10 days ago (the API could not be reached to refresh it)"


def test_fallback_table_when_the_api_fails_and_nothing_is_cached(
    make_book: Callable[..., PriceBook], api: RecordedApi
) -> None:
    api.failure = PriceLookupError("timed out")
    book = make_book()
    price = book.lookup("Standard_DS3_v2", "eastus")
    assert price is not None
    assert (price.per_hour, price.source, price.label) == (0.293, PriceSource.FALLBACK, "fallback table (approximate)")
    low = book.lookup("Standard_NC6s_v3", "westeurope", low_priority=True)
    assert low is not None and low.per_hour == 3.366
    assert low.label == "fallback table (approximate), on-demand price: low priority costs less"
    assert book.lookup("Standard_HB120rs_v3", "eastus") is None  # in no source: unknown, not guessed


def test_after_a_failure_the_api_is_left_alone_for_a_while(
    make_book: Callable[..., PriceBook], api: RecordedApi, clock: FakeClock
) -> None:
    api.failure = OSError("Connection refused")
    book = make_book()
    assert book.lookup("Standard_DS3_v2", "eastus") is not None
    assert book.lookup("Standard_DS11_v2", "eastus") is not None
    assert len(api.calls) == 1  # the second size did not wait on a dead API
    api.failure = None
    clock.advance(16 * 60)
    price = book.lookup("Standard_NC6s_v3", "eastus")
    assert price is not None and price.source is PriceSource.API


def test_an_answer_without_items_counts_as_the_api_failing(make_book: Callable[..., PriceBook]) -> None:
    book = make_book(fetch=lambda url: {"error": {"code": "BadRequest", "message": "Invalid OData filter"}})
    price = book.lookup("Standard_NC6s_v3", "eastus")
    assert price is not None and price.source is PriceSource.FALLBACK


def test_default_fetch_refuses_links_away_from_the_prices_api() -> None:
    with pytest.raises(PriceLookupError, match="away from the Retail Prices API"):
        UrllibFetch()("http://prices.azure.com.example.net/api/retail/prices?$skip=100")
