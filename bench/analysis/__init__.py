"""Pure analysis of measurements: statistics, the scalability model, the
verdict, sweep summaries and the compare decision. Never imports plotting
or Celery."""
