"""What tests share: composing and running studies, reading their outputs, and real processes
(a killable driver, a local Ray cluster, a local S3 server, a headless browser)."""
