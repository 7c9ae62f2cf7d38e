<?php $db_password = "SECRET-PHP"; ?>
