"""Settings of the trend service (API and worker)."""

from typing import Self

from pydantic import Field, model_validator

from services.trend.indicators import IndicatorConfig
from shared.settings import PlatformSettings


class TrendSettings(PlatformSettings):
    """Environment of the trend processes; see PlatformSettings for the shared fields.

    Indicator periods are per deployment (``TREND_SMA_SHORT=10`` and so on); output names follow
    them (``sma_10``). A state built with other periods is started afresh by the worker.
    """

    trend_sma_short: int = 5
    trend_sma_long: int = 20
    trend_ema_fast: int = 12
    trend_ema_slow: int = 26
    trend_macd_signal: int = 9
    trend_rsi_period: int = 14
    trend_bb_period: int = 20
    trend_bb_stddev: float = 2.0
    # After a partial receive, wait this long for more tick events: fuller batches mean one
    # state read and write per symbol for more ticks (fewer AWS calls), at this much latency.
    trend_batch_window_seconds: float = 0.2
    # How long an applied event id is remembered (redeliveries come within minutes).
    trend_idempotency_days: int = 7
    # At most one e-mail alert per symbol and direction in this many seconds of tick time
    # (0: every signal is e-mailed); held-back alerts are counted in GET /trends/{symbol}.
    trend_alert_window_seconds: int = Field(default=900, ge=0, le=7 * 24 * 3600)

    @model_validator(mode="after")
    def _periods_make_sense(self) -> Self:
        self.indicator_config  # noqa: B018 - raises ValueError when the periods do not fit
        return self

    @property
    def indicator_config(self) -> IndicatorConfig:
        return IndicatorConfig(
            sma_short=self.trend_sma_short,
            sma_long=self.trend_sma_long,
            ema_fast=self.trend_ema_fast,
            ema_slow=self.trend_ema_slow,
            macd_signal=self.trend_macd_signal,
            rsi_period=self.trend_rsi_period,
            bb_period=self.trend_bb_period,
            bb_stddev=self.trend_bb_stddev,
        )
