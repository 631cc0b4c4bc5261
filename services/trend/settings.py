"""Settings of the trend service (API and worker)."""

from typing import Self

from pydantic import Field, model_validator

from services.trend.indicators import MAX_PERIOD, IndicatorConfig
from shared.settings import PlatformSettings


class TrendSettings(PlatformSettings):
    """Environment of the trend processes; see PlatformSettings for the shared fields.

    Indicator periods are per deployment (``TREND_SMA_SHORT=10`` and so on); output names follow
    them (``sma_10``). A state built with other periods is started afresh by the worker.
    """

    trend_sma_short: int = Field(5, ge=2, le=MAX_PERIOD)
    trend_sma_long: int = Field(20, ge=2, le=MAX_PERIOD)
    trend_ema_fast: int = Field(12, ge=2, le=MAX_PERIOD)
    trend_ema_slow: int = Field(26, ge=2, le=MAX_PERIOD)
    trend_macd_signal: int = Field(9, ge=2, le=MAX_PERIOD)
    trend_rsi_period: int = Field(14, ge=2, le=MAX_PERIOD)
    trend_bb_period: int = Field(20, ge=2, le=MAX_PERIOD)
    trend_bb_stddev: float = Field(2.0, gt=0, le=100, allow_inf_nan=False)
    # After a partial receive, wait this long for more tick events: fuller batches mean one
    # state read and write per symbol for more ticks (fewer AWS calls), at this much latency.
    trend_batch_window_seconds: float = Field(0.2, ge=0, le=10)
    # How long an applied event id is remembered (redeliveries come within minutes).
    trend_idempotency_days: int = Field(7, ge=1, le=365)
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
