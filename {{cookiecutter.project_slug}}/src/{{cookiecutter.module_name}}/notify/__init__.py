"""Send a finished report to the people who need it: by email (SMTP) and to a webhook.

Standard library only (smtplib, email, urllib). Off until ``notify`` in params.yaml names
a mail server and recipients or a webhook URL; the commands send only when asked
(``--notify``). A failed send is one line on stderr and never changes a command's verdict
or exit code: the report is on disk either way.
"""
