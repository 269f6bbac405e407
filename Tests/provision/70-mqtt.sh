# Result sinks: a real MQTT broker and client (Debian mosquitto, mosquitto-clients) on loopback.
need_apt mosquitto mosquitto-clients
