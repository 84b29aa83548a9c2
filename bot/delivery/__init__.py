"""Getting digests to chats: rendering (Telegram HTML and the Markdown export), the outbox
(queue, send, confirm), and the rate limiter that keeps Telegram's flood limits.

May import: `bot.models`, `bot.messages`, `bot.matching`, `bot.storage`, `bot.arxiv`, `bot.i18n`.
"""
