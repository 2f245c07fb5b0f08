"""Print every exampleValue in test.demo, in order, through the replica set.

The connection string names all three members and the set: pymongo finds
the primary on its own and follows a failover.  With a command-line
argument N it first inserts N more documents (to show writes still work).
"""

import os
import sys

from pymongo import MongoClient

client = MongoClient(os.environ["MONGO_URL"], serverSelectionTimeoutMS=30000)
demo = client.test.demo
if len(sys.argv) > 1:
    start = demo.count_documents({}) + 1
    demo.insert_many([{"exampleValue": i} for i in range(start, start + int(sys.argv[1]))])
for doc in demo.find({}, {"_id": 0, "exampleValue": 1}).sort("exampleValue", 1):
    print(doc["exampleValue"])
