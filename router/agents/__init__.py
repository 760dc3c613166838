"""What people do with threads: the queue, assignment, replies, canned texts, what agents read."""
