-- The hotel stays of resolved bookings: which cities a traveller often visits, with which chains,
-- at what nightly rate. Next best actions suggest hotels of the traveller's preferred chains there.
CREATE TABLE hotel_stays (
    source_system text        NOT NULL,
    booking_id    text        NOT NULL,
    position      integer     NOT NULL,      -- the segment's place in the booking
    customer_id   text        NOT NULL,      -- as resolved; merged ids are read through `customers`
    company_id    text,
    city          text        NOT NULL,
    country       text        NOT NULL,
    hotel_name    text        NOT NULL,
    chain_code    text,
    check_in      date        NOT NULL,
    nights        integer     NOT NULL CHECK (nights > 0),
    nightly_rate  numeric,
    currency      text,
    PRIMARY KEY (source_system, booking_id, position)
);
CREATE INDEX hotel_stays_customer ON hotel_stays (customer_id, check_in DESC);
-- When each booking's stays were last stated: an older event arriving late changes nothing.
CREATE TABLE hotel_stay_bookings (
    source_system text        NOT NULL,
    booking_id    text        NOT NULL,
    stated_at     timestamptz NOT NULL,
    PRIMARY KEY (source_system, booking_id)
);
