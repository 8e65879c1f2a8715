"""What a person reads: the terminal, Markdown, HTML, CSV and figures. Reporters return text; only the CLI prints."""
