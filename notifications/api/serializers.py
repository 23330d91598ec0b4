from rest_framework import serializers

from notifications.models import Delivery


class InboxItemSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(source="notice.kind")
    outcome = serializers.CharField(source="notice.outcome")
    subject = serializers.CharField(source="notice.subject")
    path = serializers.CharField(source="notice.path", help_text="The portal page it is about.")
    created_at = serializers.DateTimeField(source="notice.created_at")
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = ["id", "kind", "outcome", "subject", "path", "created_at", "is_read", "read_at"]

    def get_is_read(self, item: Delivery) -> bool:
        return item.read_at is not None


class InboxReadInputSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=False,
        max_length=500,
        help_text="The items to mark read; leave out to mark all read.",
    )
