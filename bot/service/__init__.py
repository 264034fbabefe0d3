"""The running service: scheduler, job deadlines and book, metrics, JSON logs, the processes."""
