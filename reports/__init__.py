"""Reports for people: the daily briefing 舆情日报 (`reports.daily.build_daily_report`)."""
