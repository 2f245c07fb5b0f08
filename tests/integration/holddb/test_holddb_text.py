"""Text indexes and $text search through pymongo."""

import pytest
from pymongo.errors import OperationFailure


@pytest.fixture
def articles(db):
    db.a.insert_many([
        {"_id": 1, "title": "Coffee brewing guide", "body": "How to brew coffee at home"},
        {"_id": 2, "title": "Tea time", "body": "Green tea and black tea, no coffee"},
        {"_id": 3, "title": "Café culture", "body": "The best cafés in Paris"},
        {"_id": 4, "title": "Gardening", "body": "Roses and tulips", "tags": ["coffee grounds"]},
    ])
    return db.a


def test_text_search_terms_phrases_negation_and_score(articles):
    with pytest.raises(OperationFailure) as info:
        list(articles.find({"$text": {"$search": "coffee"}}))
    assert info.value.code == 27
    articles.create_index([("title", "text"), ("body", "text")], weights={"title": 5})
    index = [i for i in articles.list_indexes() if i["name"] == "title_text_body_text"][0]
    assert index["key"] == {"_fts": "text", "_ftsx": 1} and index["weights"]["title"] == 5
    found = articles.find({"$text": {"$search": "coffee"}}, {"score": {"$meta": "textScore"}})
    ranked = list(found.sort([("score", {"$meta": "textScore"})]))
    assert [d["_id"] for d in ranked] == [1, 2]  # title hit weighs more; tags not indexed
    assert ranked[0]["score"] > ranked[1]["score"] > 0
    assert {d["_id"] for d in articles.find({"$text": {"$search": "tea -coffee"}})} == set()
    assert {d["_id"] for d in articles.find({"$text": {"$search": "tulips tea"}})} == {2, 4}
    assert [d["_id"] for d in articles.find({"$text": {"$search": '"black tea"'}})] == [2]
    assert [d["_id"] for d in articles.find({"$text": {"$search": "CAFE"}})] == [3]
    assert articles.count_documents({"$text": {"$search": "coffee"}, "_id": {"$gt": 1}}) == 1
    with pytest.raises(OperationFailure):
        articles.create_index([("tags", "text")])  # one text index per collection


def test_text_index_follows_writes(articles):
    articles.create_index([("body", "text")])
    articles.update_one({"_id": 4}, {"$set": {"body": "espresso machines"}})
    articles.delete_one({"_id": 1})
    assert [d["_id"] for d in articles.find({"$text": {"$search": "espresso"}})] == [4]
    assert [d["_id"] for d in articles.find({"$text": {"$search": "brew"}})] == []
