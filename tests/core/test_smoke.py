from flask.testing import FlaskClient


def test_login_page_is_served(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert "Staff sign-in" in response.get_data(as_text=True)
