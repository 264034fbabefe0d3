"""The Slack app: slash command, buttons and App Home over the same core as the CLI."""
