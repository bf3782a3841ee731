"""Demo tickets drawn from the seed article's cases, for ``make run``."""

from __future__ import annotations

from typing import Any

DEMO_TICKETS: tuple[dict[str, Any], ...] = (
    {
        "channel": "wechat_group",
        "channel_message_id": "demo-kangjie-earthwork",
        "enterprise_name": "康杰药业",
        "contact": "苏超",
        "street": "李村街道",
        "project_name": "康杰药业项目",
        "title": "土石方施工许可证办理求助",
        "text": "我们项目急需办理土石方施工许可证，听说要由市级行政审批主管部门办理，需要准备的材料繁多，"
        "企业没有办理过，对办理流程心里没底，项目推进压力很大，希望帮忙对接梳理审批手续和材料。",
    },
    {
        "channel": "wechat_group",
        "channel_message_id": "demo-huiyu-licence",
        "enterprise_name": "惠昱电子",
        "contact": "李庆涛",
        "project_name": "粤浦科创中心",
        "title": "入驻企业办理营业执照遇到堵点",
        "text": "惠昱电子入驻粤浦科创中心平台时办理营业执照遇到堵点，涉及注册地址的用地性质问题，"
        "希望兴城路街道牵头协调行政审批、自然规划等部门尽快解决，企业好顺利入驻。",
    },
    {
        "channel": "street_visit",
        "channel_message_id": "demo-zhenai-rehab",
        "enterprise_name": "臻爱儿童卓越发展中心",
        "contact": "张桂臻",
        "street": "浮山路街道",
        "title": "儿童康复中心开业运营需要多部门协调",
        "text": "中心面向0至18岁孤独症、发育迟缓、感统失调等特殊儿童提供康复训练，面积18000多平方米，"
        "运营起来需要卫健、残联、民政等多个部门协调对接，希望街道帮助统筹。",
    },
    {
        "channel": "hotline",
        "channel_message_id": "demo-vague",
        "title": "有问题想反映",
        "text": "有问题想反映，请联系我。",
    },
)
