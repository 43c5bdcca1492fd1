"""Block Kit for what the outbox delivers: each semantic payload kind rendered at delivery time."""

from bot.blocks.renderer import BlockKitRenderer

__all__ = ["BlockKitRenderer"]
